"""snippets/sigv4.py against botocore's SigV4 signers (S3SigV4Auth, SigV4Auth) on generated requests.

botocore stamps the request with the current time; we read the X-Amz-Date it
used and sign the same request with our code, then compare the whole
Authorization header.  The fixed example comes from the S3 API reference
("Signature Calculations for the Authorization Header", GET Object example).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings, strategies as st

import sigv4

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "sigv4.py"
AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_aws_reference_example_get_object():
    r = sigv4.sign_v4("GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"Range": "bytes=0-9"},
                      b"", AK, SK, "us-east-1", "s3", "20130524T000000Z")
    # values printed in the S3 API reference for this example
    assert r.canonical_request.endswith(
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert r.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def _botocore(signer_cls, method, host, path, query, headers, payload, region, service="s3"):
    req = AWSRequest(method=method, url=f"https://{host}{quote(path, safe='/~')}",
                     params=dict(query), headers=dict(headers), data=payload)
    signer_cls(Credentials(AK, SK), service, region).add_auth(req)
    return req.headers["X-Amz-Date"], req.headers["Authorization"]


header_names = st.from_regex(r"(x-amz-meta-[a-z0-9]{1,8}|content-type|range|if-match|cache-control)",
                             fullmatch=True)
header_values = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20) \
    .map(lambda s: f"  {s[:5]}   {s[5:]} ")           # runs of spaces that must be squeezed
query_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x4e2d), max_size=10)


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "HEAD", "DELETE", "POST"]),
       bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True),
       key=st.text(st.characters(min_codepoint=32, max_codepoint=0x4e2d, blacklist_characters="?#"),
                   min_size=1, max_size=30),
       query=st.dictionaries(st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,10}", fullmatch=True), query_text,
                             max_size=4),
       headers=st.dictionaries(header_names, header_values, max_size=4),
       payload=st.binary(max_size=200),
       region=st.sampled_from(["us-east-1", "eu-west-3", "cn-north-1", "default"]))
def test_authorization_equals_botocore_s3_signer(method, bucket, key, query, headers, payload, region):
    host = "127.0.0.1:8080" if region == "default" else f"{bucket}.s3.{region}.amazonaws.com"
    path = "/" + key if host.startswith(bucket) else f"/{bucket}/{key}"
    amz_date, expected = _botocore(S3SigV4Auth, method, host, path, query, headers, payload, region)
    ours = sigv4.sign_v4(method, host, path, query, headers, payload, AK, SK, region, "s3", amz_date)
    assert ours.authorization == expected


@settings(max_examples=50, deadline=None)
@given(path=st.from_regex(r"(/[A-Za-z0-9_~-]{1,8}){0,4}/?", fullmatch=True),
       query=st.dictionaries(st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True), query_text, max_size=3),
       payload=st.binary(max_size=100))
def test_authorization_equals_botocore_generic_sigv4(path, query, payload):
    """Plain SigV4Auth (other services): the payload hash is signed but not sent as a header."""
    path = path or "/"
    amz_date, expected = _botocore(SigV4Auth, "POST", "sts.amazonaws.com", path, query, {}, payload,
                                   "us-east-1", service="sts")
    ours = sigv4.sign_v4("POST", "sts.amazonaws.com", path, query, {}, payload, AK, SK, "us-east-1",
                         "sts", amz_date, content_sha256_header=False)
    assert ours.authorization == expected


def test_any_change_changes_the_signature():
    base = dict(method="GET", host="b.s3.amazonaws.com", path="/k", query={}, headers={},
                payload=b"", access_key=AK, secret_key=SK, region="us-east-1", service="s3",
                amz_date="20260101T000000Z")
    sig = sigv4.sign_v4(**base).signature
    for change in [{"path": "/K"}, {"payload": b"x"}, {"region": "us-east-2"},
                   {"amz_date": "20260101T000001Z"}, {"query": {"a": "b"}}, {"secret_key": SK + "x"}]:
        assert sigv4.sign_v4(**{**base, **change}).signature != sig, change


@pytest.mark.parametrize("args, msg", [
    (["GET", "h", "/k", "--date", "yesterday"], "amz_date must look like"),
    (["GET", "h", "k"], "path must start with '/'"),
    (["GET", "h", "/k", "--header", "no-colon"], "header must be 'Name: value'"),
])
def test_bad_input_exits_2_with_message(args, msg):
    proc = subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True)
    assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr
