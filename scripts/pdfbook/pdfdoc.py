"""Read the few things we need from a PDF that Chromium (Skia) wrote: stdlib only.

`pdfbook.outline` uses it to find the page of every heading in a first
print (to number the table of contents), and `tests/pdf/test_pdf.py` uses it to
check bookmarks and links.  It understands plain indirect objects, object
streams (/ObjStm with /FlateDecode) and the outline and link dictionaries of
ISO 32000-1 §12.3.3 (document outline) and §12.5.6.5 (link annotations); it is
not a general PDF parser.

>>> parse_object(b"<< /Title <FEFF00410042> /Dest [3 0 R /XYZ 0 10 0] >>")["Title"]
'AB'
>>> parse_object(b"[1 0 R (a\\\\(b) /N]")
[Ref(num=1, gen=0), 'a(b', Name(value='N')]
>>> parse_object(b"<< /A 1")
Traceback (most recent call last):
...
ValueError: unterminated dictionary at byte 7
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ref:
    num: int
    gen: int


@dataclass(frozen=True)
class Name:
    value: str


DELIM = b"()<>[]{}/%"
WS = b" \t\r\n\f\0"
OBJ = re.compile(rb"(?<![0-9])(\d+)\s+(\d+)\s+obj\b")
NUMBER = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)")
REF = re.compile(rb"(\d+)\s+(\d+)\s+R(?![A-Za-z])")


def _decode_text(raw: bytes) -> str:
    """A PDF text string: UTF-16BE with a BOM, else PDFDocEncoding (Latin-1 is close enough here)."""
    if raw[:2] == b"\xfe\xff":
        return raw[2:].decode("utf-16-be", errors="replace")
    if raw[:3] == b"\xef\xbb\xbf":
        return raw[3:].decode("utf-8", errors="replace")
    return raw.decode("latin-1")


class _Parser:
    def __init__(self, data: bytes, pos: int = 0):
        self.d, self.i = data, pos

    def skip(self) -> None:
        d = self.d
        while self.i < len(d):
            c = d[self.i]
            if c in WS:
                self.i += 1
            elif c == 0x25:   # % comment
                while self.i < len(d) and d[self.i] not in b"\r\n":
                    self.i += 1
            else:
                break

    def value(self):
        self.skip()
        d, i = self.d, self.i
        if i >= len(d):
            raise ValueError(f"unexpected end of data at byte {i}")
        if d.startswith(b"<<", i):
            self.i += 2
            out = {}
            while True:
                self.skip()
                if self.i >= len(d):
                    raise ValueError(f"unterminated dictionary at byte {self.i}")
                if d.startswith(b">>", self.i):
                    self.i += 2
                    return out
                key = self.value()
                if not isinstance(key, Name):
                    raise ValueError(f"dictionary key is not a name at byte {self.i}")
                out[key.value] = self.value()
        if d[i] == 0x5B:   # [
            self.i += 1
            out = []
            while True:
                self.skip()
                if self.i >= len(d):
                    raise ValueError(f"unterminated array at byte {self.i}")
                if d[self.i] == 0x5D:
                    self.i += 1
                    return out
                out.append(self.value())
        if d[i] == 0x2F:   # /Name
            j = i + 1
            while j < len(d) and d[j] not in WS and d[j] not in DELIM:
                j += 1
            self.i = j
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), d[i + 1:j])
            return Name(raw.decode("utf-8", errors="replace"))
        if d[i] == 0x28:   # (literal string)
            return _decode_text(self._literal())
        if d[i] == 0x3C:   # <hex string>
            j = d.index(b">", i)
            self.i = j + 1
            hexdigits = re.sub(rb"\s", b"", d[i + 1:j])
            if len(hexdigits) % 2:
                hexdigits += b"0"
            return _decode_text(bytes.fromhex(hexdigits.decode()))
        m = REF.match(d, i)
        if m:
            self.i = m.end()
            return Ref(int(m.group(1)), int(m.group(2)))
        m = NUMBER.match(d, i)
        if m:
            self.i = m.end()
            text = m.group(0)
            return float(text) if b"." in text else int(text)
        for word, val in ((b"true", True), (b"false", False), (b"null", None)):
            if d.startswith(word, i):
                self.i = i + len(word)
                return val
        raise ValueError(f"cannot parse PDF value at byte {i}: {d[i:i + 20]!r}")

    def _literal(self) -> bytes:
        d = self.d
        i = self.i + 1
        depth, out = 1, bytearray()
        escapes = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}
        while i < len(d):
            c = d[i]
            if c == 0x5C:   # backslash
                n = d[i + 1]
                if n in escapes:
                    out += escapes[n]
                    i += 2
                elif 0x30 <= n <= 0x37:
                    m = re.match(rb"[0-7]{1,3}", d[i + 1:i + 4])
                    out.append(int(m.group(0), 8) & 0xFF)
                    i += 1 + len(m.group(0))
                elif n in b"\r\n":
                    i += 2 + (n == 0x0D and d[i + 2:i + 3] == b"\n")
                else:
                    out.append(n)
                    i += 2
                continue
            if c == 0x28:
                depth += 1
            elif c == 0x29:
                depth -= 1
                if depth == 0:
                    self.i = i + 1
                    return bytes(out)
            out.append(c)
            i += 1
        raise ValueError(f"unterminated string at byte {self.i}")


def parse_object(data: bytes):
    """Parse one PDF value (dictionary, array, string, name, number, reference)."""
    return _Parser(data).value()


class PdfDoc:
    """The objects of one PDF file, its pages in order, outline and links."""

    def __init__(self, path: str | Path):
        self.data = Path(path).read_bytes()
        if not self.data.startswith(b"%PDF-"):
            raise ValueError(f"{path}: not a PDF file (no %PDF- header)")
        self.offsets = self._xref() or {int(m.group(1)): m.start() for m in OBJ.finditer(self.data)}
        self._cache: dict[int, object] = {}
        self._compressed: dict[int, tuple[int, int]] = {}   # object -> (object stream, index)
        self.streams: dict[int, bytes] = {}
        trailer_root = re.findall(rb"/Root\s+(\d+)\s+(\d+)\s+R", self.data)
        if not trailer_root:
            raise ValueError(f"{path}: no /Root in the trailer")
        if any(b"/ObjStm" in self.data[o:o + 200] for o in self.offsets.values()):
            for num in list(self.offsets):
                val = self.get(Ref(num, 0))
                if isinstance(val, dict) and val.get("Type") == Name("ObjStm"):
                    self._unpack_objstm(num, val)
        self.catalog = self.get(Ref(int(trailer_root[-1][0]), 0))
        self.pages: list[int] = []
        self._collect_pages(self.catalog["Pages"])
        self.page_index = {num: i for i, num in enumerate(self.pages)}

    def _xref(self) -> dict[int, int]:
        """Offsets from the classic cross-reference table (ISO 32000-1 §7.5.4), if there is one."""
        start = self.data.rfind(b"startxref")
        if start < 0:
            return {}
        m = re.match(rb"startxref\s+(\d+)", self.data[start:])
        pos = int(m.group(1)) if m else -1
        if not self.data.startswith(b"xref", pos):
            return {}
        offsets: dict[int, int] = {}
        lines = iter(self.data[pos + 4:].split(b"\n"))
        for line in lines:
            head = line.split()
            if not head:
                continue
            if head[0] == b"trailer" or len(head) != 2:
                break
            first, count = int(head[0]), int(head[1])
            for k in range(count):
                entry = next(lines).split()
                if len(entry) >= 3 and entry[2] == b"n":
                    offsets[first + k] = int(entry[0])
        return offsets

    @property
    def objects(self) -> dict[int, object]:
        """Every object, parsed (slow on big files: use get() for single objects)."""
        return {num: self.get(Ref(num, 0)) for num in list(self.offsets) + list(self._compressed)}

    def _load(self, num: int):
        if num in self._compressed:
            stm, idx = self._compressed[num]
            return self._cache[num]
        off = self.offsets.get(num)
        if off is None:
            return None
        m = OBJ.match(self.data, off)
        if m is None:
            raise ValueError(f"object {num}: no 'obj' at offset {off}")
        p = _Parser(self.data, m.end())
        val = p.value()
        p.skip()
        if isinstance(val, dict) and self.data.startswith(b"stream", p.i):
            start = p.i + 6
            start += 2 if self.data[start:start + 2] == b"\r\n" else 1
            length = self.get(val.get("Length"))
            if isinstance(length, int):
                self.streams[num] = self.data[start:start + length]
            else:
                self.streams[num] = self.data[start:self.data.index(b"endstream", start)]
        return val

    def stream(self, num: int) -> bytes:
        obj = self.get(Ref(num, 0))
        raw = self.streams[num]
        filt = obj.get("Filter")
        if filt == Name("FlateDecode") or filt == [Name("FlateDecode")]:
            return zlib.decompress(raw)
        if filt is None:
            return raw
        raise ValueError(f"object {num}: unsupported stream filter {filt}")

    def _unpack_objstm(self, num: int, val: dict) -> None:
        body = self.stream(num)
        n, first = val["N"], val["First"]
        head = body[:first].split()
        for k in range(n):
            onum, off = int(head[2 * k]), int(head[2 * k + 1])
            if onum not in self.offsets:
                self._cache[onum] = _Parser(body, first + off).value()
                self._compressed[onum] = (num, k)

    def get(self, v):
        seen = 0
        while isinstance(v, Ref) and seen < 32:
            seen += 1
            if v.num not in self._cache:
                self._cache[v.num] = self._load(v.num)
            v = self._cache[v.num]
        return v

    def _collect_pages(self, ref, depth: int = 0) -> None:
        if depth > 64:
            raise ValueError("page tree too deep")
        node = self.get(ref)
        if node.get("Type") == Name("Pages"):
            for kid in node["Kids"]:
                self._collect_pages(kid, depth + 1)
        else:
            self.pages.append(ref.num)

    # -- destinations -------------------------------------------------------
    def _named_dest(self, name: str):
        dests = self.get(self.catalog.get("Dests"))
        if isinstance(dests, dict) and name in dests:
            return self.get(dests[name])
        tree = self.get(self.get(self.catalog.get("Names", {})).get("Dests")) if self.catalog.get("Names") else None
        stack = [tree] if tree else []
        while stack:
            node = self.get(stack.pop())
            names = node.get("Names", [])
            for k in range(0, len(names), 2):
                if names[k] == name:
                    return self.get(names[k + 1])
            stack.extend(node.get("Kids", []))
        return None

    def dest_page(self, dest) -> int | None:
        """0-based page index of an explicit or named destination."""
        dest = self.get(dest)
        if isinstance(dest, (Name, str)):
            dest = self._named_dest(dest.value if isinstance(dest, Name) else dest)
        if isinstance(dest, dict):
            dest = self.get(dest.get("D"))
        if isinstance(dest, list) and dest and isinstance(dest[0], Ref):
            return self.page_index.get(dest[0].num)
        return None

    # -- outline -------------------------------------------------------------
    def outline(self) -> list[tuple[int, str, int | None]]:
        """Bookmarks in reading order: (level starting at 1, title, 0-based page)."""
        return [(level, title, page) for _, level, title, page in self.outline_items()]

    def outline_items(self) -> list[tuple[int, int, str, int | None]]:
        """Bookmarks in reading order: (object number, level, title, 0-based page)."""
        root = self.get(self.catalog.get("Outlines"))
        out: list[tuple[int, int, str, int | None]] = []
        if not isinstance(root, dict):
            return out

        def walk(ref, level: int) -> None:
            seen = 0
            while isinstance(ref, Ref) and seen < 100000:
                seen += 1
                item = self.get(ref)
                dest = item.get("Dest")
                if dest is None and isinstance(self.get(item.get("A")), dict):
                    dest = self.get(item["A"]).get("D")
                out.append((ref.num, level, item.get("Title", ""),
                            self.dest_page(dest) if dest is not None else None))
                if "First" in item:
                    walk(item["First"], level + 1)
                ref = item.get("Next")

        walk(root.get("First"), 1)
        return out

    def title_span(self, num: int) -> tuple[int, int]:
        """Byte range of the /Title string of a plain (not compressed) object, for in-place edits."""
        m = re.search(rb"(?<![0-9])%d\s+0\s+obj\b" % num, self.data)
        if m is None:
            raise ValueError(f"object {num} is not a plain object")
        end = self.data.index(b"endobj", m.end())
        t = self.data.find(b"/Title", m.end(), end)
        if t < 0:
            raise ValueError(f"object {num} has no /Title")
        p = _Parser(self.data, t + len(b"/Title"))
        p.skip()
        start = p.i
        p.value()
        return start, p.i

    # -- links ---------------------------------------------------------------
    def links(self) -> list[dict]:
        """Link annotations: {'page', 'rect', 'uri'} or {'page', 'rect', 'dest_page'}."""
        out = []
        for idx, num in enumerate(self.pages):
            for a in self.get(self.get(Ref(num, 0)).get("Annots", [])) or []:
                ann = self.get(a)
                if not isinstance(ann, dict) or ann.get("Subtype") != Name("Link"):
                    continue
                item = {"page": idx, "rect": ann.get("Rect")}
                action = self.get(ann.get("A"))
                if isinstance(action, dict) and "URI" in action:
                    item["uri"] = action["URI"]
                else:
                    dest = ann.get("Dest", action.get("D") if isinstance(action, dict) else None)
                    item["dest_page"] = self.dest_page(dest) if dest is not None else None
                out.append(item)
        return out

    def page_size(self, index: int = 0) -> tuple[float, float]:
        node = self.get(Ref(self.pages[index], 0))
        while "MediaBox" not in node and "Parent" in node:
            node = self.get(node["Parent"])
        x0, y0, x1, y1 = node["MediaBox"]
        return float(x1 - x0), float(y1 - y0)
