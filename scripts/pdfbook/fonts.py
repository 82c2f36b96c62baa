"""Fonts of the PDF editions: Noto CJK as TrueType subsets, and characters no font can draw.

Debian's fonts-noto-cjk ships the Noto Sans CJK faces as OpenType collections with
CFF outlines.  Chromium's PDF backend (Skia) does not embed CFF outlines as a font
program: it draws every CJK glyph as a Type 3 procedure, so `pdffonts` lists
hundreds of unnamed Type 3 fonts and viewers render the text without hinting.
TrueType (glyf) outlines are embedded as CID TrueType subsets.

So before printing, `font_css` takes the characters the print page uses, subsets
each face Debian installs (found with fontconfig), converts the cubic CFF outlines
to quadratic TrueType ones (fontTools' cu2qu, error at most 1/1000 em), and returns
@font-face rules that give the converted files the same family names.  The fonts
are the same Noto Sans CJK SC design, only re-encoded; they are written next to
the print page and never committed.

A character that no installed font can draw (an emoji on a Debian without emoji
fonts) would print as an empty box; `mark_missing_glyphs` prints its code point
instead (fontconfig's charsets, `font_coverage`).
"""
from __future__ import annotations

import bisect
import re
import subprocess
from pathlib import Path

# (CSS family, fontconfig pattern, CSS weight)
FACES = [
    ("Noto Sans CJK SC", "Noto Sans CJK SC:style=Regular", 400),
    ("Noto Sans CJK SC", "Noto Sans CJK SC:style=Bold", 700),
    ("Noto Sans Mono CJK SC", "Noto Sans Mono CJK SC:style=Regular", 400),
    ("Noto Sans Mono CJK SC", "Noto Sans Mono CJK SC:style=Bold", 700),
]


def locate(pattern: str) -> tuple[Path, int, str]:
    """The file, collection index and family fontconfig picks for `pattern`."""
    out = subprocess.run(["fc-match", "--format", "%{file}|%{index}|%{family[0]}", pattern],
                         capture_output=True, text=True, check=True).stdout
    file, index, family = out.split("|", 2)
    return Path(file), int(index), family


def truetype_subset(source: Path, index: int, text: str, out: Path) -> int:
    """Write the glyphs `text` needs from face `index` of `source` as a TrueType font; return the glyph count."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(str(source), fontNumber=index, lazy=False)
    options = subset.Options()
    options.layout_features = ["*"]        # keep vertical forms, ligatures, locl for zh-Hans
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    if "glyf" not in font:
        glyph_set = font.getGlyphSet()
        order = font.getGlyphOrder()
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        max_err = font["head"].unitsPerEm / 1000
        for name in order:
            pen = TTGlyphPen(glyph_set)
            # CFF contours run counter-clockwise, TrueType clockwise: reverse while converting
            glyph_set[name].draw(Cu2QuPen(pen, max_err, reverse_direction=True))
            glyf.glyphs[name] = pen.glyph()
        for tag in ("CFF ", "VORG"):
            if tag in font:
                del font[tag]
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        maxp = font["maxp"]
        maxp.tableVersion = 0x00010000
        for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                     "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
            setattr(maxp, attr, 0)
        maxp.maxZones = 1
        font["head"].glyphDataFormat = 0
        font["post"].formatType = 3.0      # no glyph names, as TrueType fonts usually do
        font.sfntVersion = "\x00\x01\x00\x00"
    font.save(str(out))
    return len(font.getGlyphOrder())


def font_css(text: str, dest: Path, url_prefix: str) -> str:
    """Make the TrueType subsets for `text` in `dest`; return their @font-face rules."""
    dest.mkdir(parents=True, exist_ok=True)
    chars = "".join(sorted(set(text) | set(" ")))
    rules = []
    for family, pattern, weight in FACES:
        source, index, found = locate(pattern)
        if found != family:
            raise RuntimeError(f"fontconfig has no {pattern!r} (got {found!r}); install fonts-noto-cjk")
        name = f"{family.replace(' ', '')}-{weight}.ttf"
        truetype_subset(source, index, chars, dest / name)
        rules.append(f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
                     f'src: url("{url_prefix}{name}") format("truetype"); }}')
    return "\n".join(rules)


_coverage: list[tuple[int, int]] | None = None


def font_coverage() -> list[tuple[int, int]]:
    """Code point ranges that some installed font can draw (fontconfig's charsets), merged."""
    global _coverage
    if _coverage is None:
        out = subprocess.run(["fc-list", "--format", "%{charset}\n"], capture_output=True, text=True).stdout
        ranges = []
        for token in out.split():
            lo, _, hi = token.partition("-")
            try:
                ranges.append((int(lo, 16), int(hi or lo, 16)))
            except ValueError:
                continue
        ranges.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        _coverage = merged
    return _coverage


def covered(cp: int) -> bool:
    ranges = font_coverage()
    i = bisect.bisect_right(ranges, (cp, 0x10FFFF)) - 1
    return cp < 0x80 or (i >= 0 and ranges[i][0] <= cp <= ranges[i][1])


def mark_missing_glyphs(text: str) -> str:
    """Characters no installed font can draw (an emoji on a Debian without emoji fonts) would print
    as empty boxes: print their code point instead, visibly marked."""
    def fix(m: re.Match) -> str:
        return "".join(c if c in "\n\t" or covered(ord(c)) else f'<span class="nofont">[U+{ord(c):04X}]</span>'
                       for c in m.group(0))
    if not font_coverage():
        return text
    return re.sub(r"(?<=>)[^<]+", fix, text)
