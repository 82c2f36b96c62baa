"""The two PDF editions (`make pdf`, scripts/build_pdf.py), checked with poppler-utils and stdlib.

One run of the PDF script per session, on the session's site build (tests/sitefixtures.py,
the one the site tests use); then properties that
hold for any set of pages: every question is in both PDFs as text, bookmarks nest parts >
pages > questions, the contents' page numbers are the bookmarks' pages, nothing is printed
past the right margin, every font is embedded, every page has its running header and page
number, the question edition links each question to its answer online.  A few pages are
rendered to PNG in dist/pdf-preview/ for a reviewer to look at.
"""
from __future__ import annotations

import doctest
import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from pdfbook import fonts, pdfdoc  # noqa: E402

import prebuild  # noqa: E402  (tests/, on sys.path from the root conftest)

pytestmark = pytest.mark.site

SITE_URL = "https://handbook.example.org/interview/"   # HANDBOOK_SITE_URL for the question edition
PREVIEW = ROOT / "dist" / "pdf-preview"
MM = 72 / 25.4
MARGIN_X = 16 * MM          # left and right page margins of scripts/pdf/print.css
TOP_MARGIN = 18 * MM


def norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", html.unescape(s)))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:          # another file system
        shutil.copy2(src, dst)


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """Both PDFs from the session's site build; return paths, questions.json and the build report.

    The PDF script writes its print pages into the site it prints: it gets a copy of the
    session's site made of hard links, so the site tests never see them."""
    for tool in ("pdftotext", "pdffonts", "pdfinfo", "pdftoppm"):
        assert shutil.which(tool), f"{tool} missing: Debian package poppler-utils"
    reuse = os.environ.get("HANDBOOK_PDF_TEST_REUSE")   # developer shortcut: a dir from an earlier run
    if reuse and (Path(reuse) / "dist" / "pdf-report.json").is_file():
        tmp = Path(reuse)
        return {"full": tmp / "dist" / "handbook-full.pdf", "questions": tmp / "dist" / "handbook-questions.pdf",
                "site": tmp / "site", "report": json.loads((tmp / "dist" / "pdf-report.json").read_text("utf-8")),
                "data": json.loads((tmp / "site" / "assets" / "questions.json").read_text("utf-8"))}
    assert prebuild.PDF_SITE_URL == SITE_URL
    started = None if reuse else prebuild.PREBUILD.pdf_result(timeout=900)
    if started is not None:                 # built beside the first tests (tests/prebuild.py)
        tmp, status, output = started
        site, out = tmp / "site", tmp / "dist"
        assert status == 0, output[-3000:]
    else:
        tmp = Path(reuse) if reuse else tmp_path_factory.mktemp("pdf")
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1", HANDBOOK_SITE_URL=SITE_URL)
        site = tmp / "site"
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(request.getfixturevalue("site_dir"), site, copy_function=_link_or_copy)
        out = tmp / "dist"
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_pdf.py"), "--site", str(site), "--out", str(out)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    report = json.loads((out / "pdf-report.json").read_text(encoding="utf-8"))
    questions = json.loads((site / "assets" / "questions.json").read_text(encoding="utf-8"))
    return {"full": out / "handbook-full.pdf", "questions": out / "handbook-questions.pdf",
            "site": site, "report": report, "data": questions}


@functools.cache
def pages_text(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")[:-1]


def layout_text(pdf: Path, first: int, last: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-f", str(first), "-l", str(last), str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)


@functools.cache
def words(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    """Per page: (width, height, [(xMin, yMin, xMax, yMax, text)]) from pdftotext -bbox."""
    out = subprocess.run(["pdftotext", "-bbox", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    return [(float(w), float(h), [(float(a), float(b), float(c), float(d), html.unescape(t))
                                  for a, b, c, d, t in WORD.findall(body)])
            for w, h, body in PAGE.findall(out)]


def all_questions(data):
    for p in data:
        for q in p["questions"]:
            yield p, q


def test_pdfdoc_reader_doctests():
    result = doctest.testmod(pdfdoc)
    assert result.attempted >= 3 and result.failed == 0


def test_every_seed_question_is_text_in_both_editions(built):
    seeds = [q["title"] for _, q in all_questions(built["data"]) if q["seed"]]
    assert seeds, "questions.json lists seed questions"
    for edition in ("full", "questions"):
        text = norm("".join(pages_text(built[edition])))
        missing = [t for t in seeds if norm(t) not in text]
        assert missing == [], f"{edition}: seed questions not extractable: {missing}"


def test_every_question_and_open_followup_is_in_the_full_edition(built):
    # follow-ups sit in collapsed <details> on the site: printed open, their summary and body are text
    text = norm("".join(pages_text(built["full"])))
    titles = [q["title"] for _, q in all_questions(built["data"])]
    titles += [f["title"] for _, q in all_questions(built["data"]) for f in q["followups"]]
    assert [t for t in titles if norm(t) not in text] == []
    assert built["report"]["full"]["closed_details"] == 0


def _site_text(built) -> str:
    """Text of the pages the full edition prints (tags stripped)."""
    out = []
    for part in built["report"]["parts"]:
        for pg in part["pages"]:
            u = pg["url"]
            page = (built["site"] / (u + "index.html" if u.endswith("/") or not u else u)).read_text(encoding="utf-8")
            out.append(html.unescape(re.sub(r"<[^>]+>", "", page[page.find("<article"):page.rfind("</article>")])))
    return "".join(out)


def test_no_replacement_characters(built):
    # no page quotes a U+FFFD (mojibake) and printing adds none
    assert _site_text(built).count("\ufffd") == 0
    for edition in ("full", "questions"):
        text = "".join(pages_text(built[edition]))
        assert text.count("\ufffd") == 0, edition
        # glyphs Chromium could not map back to text come out as private-use code points
        assert not [c for c in text if 0xE000 <= ord(c) <= 0xF8FF], edition


def test_no_missing_glyphs(built):
    """Every character printed is one some installed font can draw (no empty boxes)."""
    assert fonts.font_coverage(), "fc-list lists no fonts"
    for edition in ("full", "questions"):
        chars = set("".join(pages_text(built[edition])))
        missing = sorted(f"U+{ord(c):04X}" for c in chars if not c.isspace() and not fonts.covered(ord(c)))
        assert missing == [], f"{edition}: no installed font has {missing}"


def test_all_fonts_embedded_with_unicode_maps(built):
    for edition in ("full", "questions"):
        out = subprocess.run(["pdffonts", str(built[edition])], capture_output=True, text=True, check=True).stdout
        rows = out.splitlines()[2:]
        assert rows, f"{edition}: no fonts listed"
        for row in rows:
            cols = row.split()
            # columns from the right: emb sub uni object-id generation
            emb, uni = cols[-5], cols[-3]
            assert emb == "yes" and uni == "yes", f"{edition}: {row}"


def test_cjk_text_is_a_named_truetype_font_not_type3(built):
    """Chromium can only draw Debian's CFF Noto CJK as Type 3 glyph procedures;
    scripts/pdfbook/fonts.py gives it TrueType subsets of the same faces instead."""
    for edition in ("full", "questions"):
        out = subprocess.run(["pdffonts", str(built[edition])], capture_output=True, text=True, check=True).stdout
        rows = out.splitlines()[2:]
        assert not [r for r in rows if "Type 3" in r], f"{edition}: Type 3 fonts left"
        names = {row.split()[0].split("+")[-1] for row in rows}
        assert {"NotoSansCJKsc-Regular", "NotoSansCJKsc-Bold"} <= names, names
        assert all(" CID TrueType " in r for r in rows if "NotoSans" in r)


def test_bookmarks_nest_parts_pages_and_questions(built):
    outline = pdfdoc.PdfDoc(built["full"]).outline()
    assert outline and all(page is not None for _, _, page in outline), "every bookmark has a page"
    titles = [norm(t) for _, t, _ in outline]
    for part in built["report"]["parts"]:
        if part["title"] is not None:
            assert norm(part["title"]) in titles, part["title"]
    chapters = {p["chapter"] for p in built["data"] if p["questions"] and p["chapter"] != "首页"}
    assert chapters <= set(titles), chapters - set(titles)
    # each question's bookmark sits one level below its page's title
    for part in built["report"]["parts"]:
        for page in part["pages"]:
            data = next(p for p in built["data"] if p["url"] == page["url"])
            heading = [i for i, (lv, t, _) in enumerate(outline) if norm(t) == norm(page["title"])]
            assert heading or not data["questions"], f"no bookmark for page {page['title']}"
            if not data["questions"]:
                continue
            start = heading[0]
            level = outline[start][0]
            if part["title"] is not None:
                parent = max(i for i in range(start) if outline[i][0] < level)
                assert norm(outline[parent][1]) == norm(part["title"]), page["title"]
            below = []
            for lv, t, _ in outline[start + 1:]:
                if lv <= level:
                    break
                if lv == level + 1:
                    below.append(norm(t))
            for q in data["questions"]:
                assert norm(q["title"]) in below, f"{page['title']}: {q['title']}"


def test_bookmarks_point_into_the_text_area(built):
    """No bookmark lands in the bottom margin of the page before its heading (a Chromium quirk
    that scripts/pdfbook/outline.py repairs)."""
    for edition in ("full", "questions"):
        doc = pdfdoc.PdfDoc(built[edition])
        low = []
        for num, lv, title, page in doc.outline_items():
            dest = doc.get(doc.get(pdfdoc.Ref(num, 0))["Dest"])
            if dest[3] < 16 * MM + 3:
                low.append((title, page + 1, dest[3]))
        assert low == [], f"{edition}: bookmarks below the text area: {low[:5]}"


def test_question_edition_bookmarks(built):
    outline = pdfdoc.PdfDoc(built["questions"]).outline()
    titles = [norm(t) for _, t, _ in outline]
    chapters = {p["chapter"] for p in built["data"] if p["questions"] and p["chapter"] != "首页"}
    assert chapters <= set(titles)
    qtitles = [t for lv, t, _ in outline if lv >= 3]
    for _, q in all_questions(built["data"]):
        assert any(norm(q["title"]) in norm(t) for t in qtitles), q["title"]


def _toc_lines(pdf: Path, last_page: int) -> list[tuple[str, int]]:
    """(normalised text, trailing number) of each line of the contents (pages 2..last_page)."""
    toc = layout_text(pdf, 2, last_page)
    return [(norm(re.sub(r"\s+\d+\s*$", "", ln)), int(m.group(1)))
            for ln in toc.splitlines() if (m := re.search(r"(\d+)\s*$", ln))]


def test_contents_page_numbers_are_the_bookmarks_pages(built):
    for edition in ("full", "questions"):
        outline = pdfdoc.PdfDoc(built[edition]).outline()
        first_body = next(page for lv, t, page in outline if page and page > 1 and norm(t) != "目录")
        lines = _toc_lines(built[edition], first_body)
        entries = []
        for part in built["report"]["parts"]:
            pages = [pg for pg in part["pages"]
                     if edition == "full" or any(p["url"] == pg["url"] and p["questions"] for p in built["data"])]
            if pages and part["title"] is not None:
                entries.append(part["title"])
            entries += [pg["title"] for pg in pages]
        checked = []
        for title in entries:
            marks = [page for lv, t, page in outline if lv <= 2 and norm(t) == norm(title)]
            nums = [num for text, num in lines if text == norm(title)]
            if marks and nums:
                checked.append((title, nums[0], marks[0] + 1))
        # a very long title may wrap in the contents or differ from the page's heading: allow a few
        assert len(checked) >= 0.8 * len(entries), f"{edition}: matched {len(checked)}/{len(entries)} contents lines"
        wrong = [c for c in checked if c[1] != c[2]]
        assert wrong == [], f"{edition}: (title, contents says, bookmark says): {wrong[:5]}"


def test_contents_entries_are_internal_links(built):
    for edition in ("full", "questions"):
        doc = pdfdoc.PdfDoc(built[edition])
        internal = [ln for ln in doc.links() if "uri" not in ln]
        assert internal, f"{edition}: no internal links"
        assert all(ln["dest_page"] is not None for ln in internal), f"{edition}: a link points nowhere"
        toc_links = [ln for ln in internal if ln["page"] in (1, 2)]
        assert len(toc_links) >= 3, f"{edition}: contents without links"
        assert all(ln["dest_page"] > ln["page"] for ln in toc_links)


def test_question_edition_links_each_question_to_its_online_answer(built):
    uris = {ln["uri"] for ln in pdfdoc.PdfDoc(built["questions"]).links() if "uri" in ln}
    for p, q in all_questions(built["data"]):
        want = SITE_URL + quote(p["url"], safe="/%") + "#" + quote(q["id"], safe="")
        assert want in uris, want
        for f in q["followups"]:
            assert SITE_URL + quote(p["url"], safe="/%") + "#" + quote(f["id"], safe="") in uris


def test_nothing_runs_past_the_right_margin(built):
    for edition in ("full", "questions"):
        over = []
        for n, (width, height, ws) in enumerate(words(built[edition]), 1):
            for x0, y0, x1, y1, t in ws:
                # 1.5 pt of slack for pdftotext's rounding of glyph boxes
                if x1 > width - MARGIN_X + 1.5 or x0 < MARGIN_X - 1.5 and n > 1:
                    over.append((n, round(x0), round(x1), t))
        assert over == [], f"{edition}: words outside the text column (page, x0, x1, word): {over[:10]}"


def test_code_is_at_least_8pt(built):
    assert built["report"]["full"]["min_code_pt"] >= 8.0
    assert built["report"]["full"]["too_wide"] == []


def test_running_header_and_page_numbers(built):
    doc = pdfdoc.PdfDoc(built["full"])
    outline = doc.outline()
    pages = words(built["full"])
    total = len(pages)
    for n, (width, height, ws) in enumerate(pages[1:], 2):   # the cover has neither
        bottom = " ".join(t for x0, y0, x1, y1, t in ws if y0 > height - 16 * MM)
        assert re.search(rf"\b{n}\s*/\s*{total}\b", bottom), f"page {n}: footer {bottom!r}"
    # a page of the book carries its part (chapter) title top left, its own title top right
    for part in built["report"]["parts"]:
        for page in part["pages"]:
            starts = [pg for lv, t, pg in outline if norm(t) == norm(page["title"])]
            if not starts:
                continue
            width, height, ws = pages[starts[0]]
            top = norm("".join(t for x0, y0, x1, y1, t in ws if y1 < TOP_MARGIN))
            assert norm(part["title"] or page["title"]) in top, f"{page['title']}: header {top!r}"


def test_diagrams_are_vectors(built):
    site = built["site"]
    urls = [pg["url"] for part in built["report"]["parts"] for pg in part["pages"]]
    n_diagrams = n_images = 0
    for u in urls:
        text = (site / (u + "index.html" if u.endswith("/") or not u else u)).read_text(encoding="utf-8")
        article = text[text.find("<article"):text.rfind("</article>")]
        # diagrams rendered at build time (hooks/mermaid_svg.py) or left for the browser
        n_diagrams += article.count('<pre class="mermaid">') + article.count('<div class="mermaid-static"')
        n_images += article.count("<img")
    assert built["report"]["full"]["diagrams"] == n_diagrams
    # image XObjects (Skia writes object dictionaries uncompressed)
    images = re.findall(rb"/Subtype\s*/Image\b", built["full"].read_bytes())
    # Mermaid diagrams are inline SVG: printed as paths and text, never as pictures
    assert len(images) <= n_images


def test_page_counts_are_sane(built):
    parts = built["report"]["parts"]
    n_pages = sum(len(p["pages"]) for p in parts)
    n_parts = sum(p["title"] is not None for p in parts)
    n_q = sum(1 for _ in all_questions(built["data"]))
    full = len(pdfdoc.PdfDoc(built["full"]).pages)
    qs = len(pdfdoc.PdfDoc(built["questions"]).pages)
    # cover + contents + a title page per part + at least one page per page of the site
    assert 2 + n_parts + n_pages <= full <= 4 + n_parts + 25 * n_pages, full
    # cover + contents + a new page per part; about 8 questions fit on a page
    assert 2 + n_parts <= qs <= 4 + 2 * n_parts + n_q // 2, qs
    assert qs < full


def test_preview_pages_rendered_for_review(built):
    """Cover, contents, the first page with a diagram and one with code, as PNG in dist/pdf-preview/."""
    PREVIEW.mkdir(parents=True, exist_ok=True)
    for old in PREVIEW.glob("*.png"):
        old.unlink()
    texts = pages_text(built["full"])
    code = next((i for i, t in enumerate(texts, 1) if ">>>" in t), None) or \
        next(i for i, t in enumerate(texts, 1) if "snippets/" in t)
    doc = pdfdoc.PdfDoc(built["full"])
    site = built["site"]
    diagram = None
    for lv, title, page in doc.outline():
        for part in built["report"]["parts"]:
            for pg in part["pages"]:
                if norm(pg["title"]) == norm(title) and diagram is None:
                    f = site / (pg["url"] + "index.html" if pg["url"].endswith("/") or not pg["url"] else pg["url"])
                    if re.search(r'class="mermaid(-static)?"', f.read_text(encoding="utf-8")):
                        diagram = page + 1
    wanted = {"full-cover": 1, "full-contents": 2, "full-code": code}
    if diagram:
        wanted["full-diagram"] = diagram
    for name, page in wanted.items():
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                        str(built["full"]), str(PREVIEW / name)], check=True)
    qpage = next(page for lv, t, page in pdfdoc.PdfDoc(built["questions"]).outline() if lv == 1 and page > 1) + 1
    for name, page in {"questions-cover": 1, "questions-contents": 2, "questions-page": qpage}.items():
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                        str(built["questions"]), str(PREVIEW / name)], check=True)
    pngs = sorted(PREVIEW.glob("*.png"))
    assert len(pngs) == len(wanted) + 3
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000 for p in pngs)
