"""What an S3 request is: an HTTP request signed with AWS Signature Version 4, computed by hand.

An S3 call (``GET /bucket/key``) is plain HTTP plus an ``Authorization``
header that proves the sender knows the secret key without sending it.  The
S3 API reference ("Authenticating Requests: AWS Signature Version 4",
header-based authentication) defines four steps:

1. the *canonical request*: method, URI-encoded path, sorted query string,
   lower-case sorted headers, the list of signed headers, the payload's SHA-256;
2. the *string to sign*: ``AWS4-HMAC-SHA256``, the time stamp, the credential
   scope ``date/region/service/aws4_request`` and the canonical request's SHA-256;
3. the *signing key*: HMAC-SHA256 chained over date, region, service and
   ``aws4_request``, starting from ``"AWS4" + secret``;
4. the *signature*: HMAC-SHA256(signing key, string to sign), in hex.

The example below is the "GET Object" example of that reference page
(bucket ``examplebucket``, key ``test.txt``, ``Range: bytes=0-9``).

>>> r = sign_v4("GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"Range": "bytes=0-9"},
...             b"", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
...             "us-east-1", "s3", "20130524T000000Z")
>>> r.signature
'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'
>>> print(r.string_to_sign)
AWS4-HMAC-SHA256
20130524T000000Z
20130524/us-east-1/s3/aws4_request
7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
>>> sign_v4("GET", "h", "/", {}, {}, b"", "AK", "SK", "us-east-1", "s3", "2013-05-24")
Traceback (most recent call last):
...
ValueError: amz_date must look like 20130524T000000Z (YYYYMMDDTHHMMSSZ), got '2013-05-24'
"""
from __future__ import annotations

import argparse
import sys

# --8<-- [start:imports]
import hashlib
import hmac
import re
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from urllib.parse import quote

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass
class Signed:
    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str
    headers: dict[str, str]          # the headers to send, Authorization included
# --8<-- [end:imports]


# --8<-- [start:canonical]
def canonical_query(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """Each key and value URI-encoded (only A-Z a-z 0-9 - _ . ~ kept), sorted by key then value."""
    pairs = query.items() if isinstance(query, Mapping) else query
    encoded = sorted((quote(str(k), safe="-_.~"), quote(str(v), safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """Lower-case names, values trimmed with inner runs of spaces squeezed, sorted by name."""
    clean = {name.lower().strip(): " ".join(str(value).split()) for name, value in headers.items()}
    names = sorted(clean)
    return "".join(f"{n}:{clean[n]}\n" for n in names), ";".join(names)


def canonical_request(method: str, path: str, query, headers: Mapping[str, str],
                      payload_hash: str) -> tuple[str, str]:
    """Return (canonical request, signed headers). S3 encodes the path once, keeping '/'."""
    header_block, signed = canonical_headers(headers)
    uri = quote(path, safe="/~")
    return "\n".join([method.upper(), uri, canonical_query(query), header_block, signed,
                      payload_hash]), signed
# --8<-- [end:canonical]


# --8<-- [start:sign]
def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret_key).encode(), date)
    for part in (region, service, "aws4_request"):
        k = _hmac(k, part)
    return k


def sign_v4(method: str, host: str, path: str, query, headers: Mapping[str, str],
            payload: bytes, access_key: str, secret_key: str, region: str, service: str,
            amz_date: str, *, unsigned_payload: bool = False,
            content_sha256_header: bool = True) -> Signed:
    """Sign one request; returns every intermediate string so each step can be shown."""
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        raise ValueError(f"amz_date must look like 20130524T000000Z (YYYYMMDDTHHMMSSZ), got {amz_date!r}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    payload_hash = UNSIGNED_PAYLOAD if unsigned_payload else hashlib.sha256(payload).hexdigest()
    send = {"Host": host, **headers, "X-Amz-Date": amz_date}
    if content_sha256_header:                       # S3 requires it; it carries the payload hash
        send["X-Amz-Content-SHA256"] = payload_hash
    creq, signed = canonical_request(method, path, query, send, payload_hash)
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
    signature = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    auth = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}")
    send["Authorization"] = auth
    return Signed(creq, to_sign, signature, auth, send)
# --8<-- [end:sign]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the SigV4 steps for one S3 request.")
    parser.add_argument("method")
    parser.add_argument("url_host")
    parser.add_argument("path")
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--access-key", default="AKIAIOSFODNN7EXAMPLE")
    parser.add_argument("--secret-key", default="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--date", default="20130524T000000Z")
    args = parser.parse_args(argv)
    try:
        if not args.url_host.strip() or any(c.isspace() for c in args.url_host):
            raise ValueError(f"host must be a name such as examplebucket.s3.amazonaws.com, got {args.url_host!r}")
        headers = {}
        for h in args.header:
            name, sep, value = h.partition(":")
            if not sep:
                raise ValueError(f"header must be 'Name: value', got {h!r}")
            headers[name.strip()] = value.strip()
        r = sign_v4(args.method, args.url_host, args.path, {}, headers, b"", args.access_key,
                    args.secret_key, args.region, "s3", args.date)
    except ValueError as exc:
        print(f"sigv4.py: {exc}", file=sys.stderr)
        return 2
    print("# canonical request\n" + r.canonical_request)
    print("# string to sign\n" + r.string_to_sign)
    print("# Authorization\n" + r.authorization)
    return 0


if __name__ == "__main__":
    sys.exit(main())
