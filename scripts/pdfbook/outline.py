"""Printing twice, and the outline (bookmarks) that numbers the contents.

Chromium prints each edition with ``--generate-pdf-document-outline`` (Playwright's
``outline=True``): one bookmark per heading.  The first print's outline gives the page of
every heading (`heading_pages`); those numbers go into the contents and the page is printed
again, until the numbers stop moving.  Two quirks of Chromium 156 are repaired in place,
keeping every byte offset: destinations in the bottom margin of the page before their
heading (`fix_destinations`) and bookmark titles that repeat text runs
(`fix_outline_titles`).
"""
from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

from . import pdfdoc
from .assemble import norm

def same_title(outline_title: str, heading_text: str) -> bool:
    """Chromium 156 sometimes repeats text runs of a heading that opens a page in the
    bookmark title: all of them ("目录目录", "GPTGPT") or only some, such as the first line of
    a heading that wraps ("…的镜" + "…的镜像").  Accept a title that holds every character of
    the heading once or twice and nothing else (fix_outline_titles repairs it)."""
    a, b = norm(outline_title), norm(heading_text)
    if a == b:
        return True
    ca, cb = Counter(a), Counter(b)
    return len(b) < len(a) <= 2 * len(b) and not (cb - ca) and not (ca - cb - cb)


def align(outline: list, headings: list[dict]) -> list[tuple[int, dict]]:
    """Pair outline entries with DOM headings (both in reading order)."""
    pairs, k = [], 0
    for h in headings:
        for j in range(k, min(len(outline), k + 50)):
            if same_title(outline[j][-2], h["text"]):
                pairs.append((j, h))
                k = j + 1
                break
    return pairs


PAGE_H, MARGIN_TOP, MARGIN_BOTTOM = 841.92, 18 * 72 / 25.4, 16 * 72 / 25.4   # A4 and print.css, in pt
XYZ = re.compile(rb"\[(\d+) 0 R /XYZ ([\d.]+) ([\d.]+) 0\]")


def heading_pages(pdf: Path, headings: list[dict]) -> dict[str, int]:
    """Page number (1-based) of each heading id, read from the PDF outline."""
    outline = pdfdoc.PdfDoc(pdf).outline()
    found = {id(h): outline[j][2] for j, h in align(outline, headings) if outline[j][2] is not None}
    pages: dict[str, int] = {}
    last = 1
    for h in headings:
        if id(h) in found:
            last = found[id(h)] + 1
        if h["id"]:
            pages[h["id"]] = last
    return pages


def fix_destinations(pdf: Path) -> int:
    """Move destinations that Chromium 156 puts in the bottom margin to the top of the next page.

    A heading pushed to the next page (break-after: avoid, or a page break) sometimes gets its
    bookmark and link target at the foot of the page before, below the text area, where no
    heading can be.  Rewritten in place, padded with spaces, so byte offsets stay valid."""
    doc = pdfdoc.PdfDoc(pdf)
    index = {num: i for i, num in enumerate(doc.pages)}
    data = bytearray(doc.data)
    fixed = 0
    for m in XYZ.finditer(doc.data):
        page, y = int(m.group(1)), float(m.group(3))
        if page not in index or y >= MARGIN_BOTTOM + 3 or index[page] + 1 >= len(doc.pages):
            continue
        before = doc.data.rfind(b"endstream", 0, m.start())
        if doc.data.rfind(b" stream\n", 0, m.start()) > before:
            continue                      # inside a content stream, not a destination
        new = b"[%d 0 R /XYZ %.0f %.0f 0]" % (doc.pages[index[page] + 1], 16 * 72 / 25.4, PAGE_H - MARGIN_TOP + 2)
        room = m.end() - m.start()
        if len(new) <= room:
            data[m.start():m.end()] = new[:-1] + b" " * (room - len(new)) + b"]"
            fixed += 1
    pdf.write_bytes(bytes(data))
    return fixed


def pdf_text_string(text: str, room: int) -> bytes | None:
    """A PDF string for `text` padded to exactly `room` bytes (whitespace inside <hex> is ignored)."""
    try:
        raw = text.encode("latin-1") if text.isascii() else b"\xfe\xff" + text.encode("utf-16-be")
    except UnicodeEncodeError:
        raw = b"\xfe\xff" + text.encode("utf-16-be")
    body = b"<" + raw.hex().upper().encode() + b">"
    if len(body) > room:
        return None
    return body[:-1] + b" " * (room - len(body)) + b">"


def fix_outline_titles(pdf: Path, headings: list[dict]) -> int:
    """Replace doubled bookmark titles with the heading's text, in place (offsets unchanged)."""
    doc = pdfdoc.PdfDoc(pdf)
    items = doc.outline_items()
    data = bytearray(doc.data)
    fixed = 0
    for j, h in align(items, headings):
        title = re.sub(r"\s+", " ", h["text"]).strip()
        if norm(items[j][2]) == norm(title):
            continue
        start, end = doc.title_span(items[j][0])
        new = pdf_text_string(title, end - start)
        if new is not None:
            data[start:end] = new
            fixed += 1
    pdf.write_bytes(bytes(data))
    return fixed


def print_pdf(browser, html_file: Path, out: Path, label: str) -> dict:
    t0 = time.monotonic()
    page = browser.new_page(viewport={"width": 680, "height": 1000})
    page.set_default_timeout(300_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed to load {r.url}"))
    page.emulate_media(media="print")
    page.goto(html_file.as_uri(), wait_until="load")
    page.wait_for_function("window.__pdfReady === true")
    errors += page.evaluate("window.__pdfErrors")
    if errors:
        raise SystemExit(f"build_pdf: {label}: " + "\n".join(errors))
    checks = page.evaluate("""() => {
        const px = el => parseFloat(getComputedStyle(el).fontSize);
        const codes = [...document.querySelectorAll('pre code')];
        const wide = [...document.querySelectorAll('.md-typeset pre, .md-typeset table, .md-typeset svg, .md-typeset img')]
            .filter(el => {
                const col = el.closest('.md-typeset').getBoundingClientRect();
                const r = el.getBoundingClientRect();
                return r.right > col.right + 1 || (el.tagName === 'PRE' && el.scrollWidth > el.clientWidth + 1);
            })
            .map(el => el.tagName + ': ' + (el.textContent || '').replace(/\\s+/g, ' ').slice(0, 60));
        return {min_code_pt: codes.length ? Math.min(...codes.map(px)) * 0.75 : null,
                diagrams: document.querySelectorAll('.pdf-diagram > svg, .mermaid-static > svg').length,
                closed_details: document.querySelectorAll('details:not([open])').length,
                too_wide: wide};
    }""")
    headings = page.evaluate("""() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
        .map(h => ({id: h.id, text: h.textContent}))""")
    opts = dict(outline=True, tagged=True, print_background=True, prefer_css_page_size=True)
    first = out.with_suffix(".pass1.pdf")
    checks["render_seconds"] = round(time.monotonic() - t0, 1)
    page.pdf(path=str(first), **opts)
    fix_destinations(first)
    checks["pass1_seconds"] = round(time.monotonic() - t0 - checks["render_seconds"], 1)
    numbers = heading_pages(first, headings)
    for attempt in range(3):
        missing = page.evaluate("""(numbers) => {
            let missing = [];
            document.querySelectorAll('.pdf-toc a[data-target]').forEach(a => {
                const n = numbers[a.dataset.target];
                if (n === undefined) missing.push(a.dataset.target);
                a.querySelector('.pn').textContent = n === undefined ? '' : String(n);
            });
            return missing;
        }""", numbers)
        if missing:
            raise SystemExit(f"build_pdf: {label}: contents entries without a heading: {missing[:5]}")
        page.pdf(path=str(out), **opts)
        checks["destinations_fixed"] = fix_destinations(out)
        again = heading_pages(out, headings)
        if again == numbers:
            break
        numbers = again   # the numbers moved a heading: print once more
    else:
        raise SystemExit(f"build_pdf: {label}: page numbers of the contents do not settle")
    os.replace(first, out.with_suffix(".pass1.keep.pdf")) if os.environ.get("PDF_DEBUG") else first.unlink()
    checks["bookmarks_fixed"] = fix_outline_titles(out, headings)
    page.close()
    checks["seconds"] = round(time.monotonic() - t0, 1)
    checks["pages"] = len(pdfdoc.PdfDoc(out).pages)
    return checks
