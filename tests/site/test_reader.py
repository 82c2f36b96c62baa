"""Reader features on the built site: question index, errata, drill, practice mode, glossary, edit link."""
from __future__ import annotations

import re

import pytest

from conftest import REPO_URL, html_pages

pytestmark = pytest.mark.site

SEED_H2 = re.compile(r'<h2 class="seed" id="([^"]+)"')
ERRATA = re.compile(r'<p class="admonition-title">原题勘误</p>')


def _chapter_pages(site_dir):
    for p in html_pages(site_dir):
        rel = p.relative_to(site_dir).as_posix()
        if rel in ("index.html", "404.html") or rel.startswith("appendix/"):
            continue
        yield rel.removesuffix("index.html"), p.read_text(encoding="utf-8")


def test_question_index_links_every_seed_question(site_dir):
    index = (site_dir / "appendix" / "questions" / "index.html").read_text(encoding="utf-8")
    expected = [f"../../{url}#{qid}" for url, text in _chapter_pages(site_dir) for qid in SEED_H2.findall(text)]
    assert expected, "the book has seed questions"
    missing = [e for e in expected if f'href="{e}"' not in index]
    assert missing == []
    assert index.count('class="qtag qtag-seed"') == len(expected)
    m = re.search(r"共 (\d+) 道原题", index)
    assert m and int(m.group(1)) == len(expected)
    # tags: the glossary terms a question names (includes/abbreviations.md)
    raid_item = re.search(r"<li>[^\n]*?简述 RAID 0[^\n]*", index)
    assert raid_item and '<span class="qtag qtag-term">RAID</span>' in raid_item.group(0)


def test_errata_page_has_one_entry_per_correction_block(site_dir):
    errata = (site_dir / "appendix" / "errata" / "index.html").read_text(encoding="utf-8")
    blocks = sum(len(ERRATA.findall(text)) for _, text in _chapter_pages(site_dir))
    assert blocks > 0
    assert errata.count('class="errata-item"') == blocks
    assert f"共 {blocks} 条勘误" in errata


def test_glossary_abbreviations_become_tooltips(site_dir):
    page = (site_dir / "disks" / "raw-disk" / "index.html").read_text(encoding="utf-8")
    assert '<abbr title="主引导记录（Master Boot Record），第 0 扇区中的 DOS 分区表">MBR</abbr>' in page


def test_every_chapter_page_has_an_edit_link(site_dir):
    from pathlib import Path
    docs = Path(__file__).resolve().parents[2] / "docs"
    for url, text in _chapter_pages(site_dir):
        src = url.rstrip("/") + ".md"
        if not (docs / src).exists():
            src = url + "index.md"
        assert f'href="{REPO_URL}/edit/main/docs/{src}"' in text, url


def test_drill_page_draws_a_question_that_links_to_its_answer(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "appendix/drill/")
    titles = set()
    for _ in range(5):
        page.click("#drill-next")
        titles.add(page.inner_text("#drill-question"))
    href = page.get_attribute("#drill-answer", "href")
    page.click("#drill-answer")
    page.wait_for_load_state("load")
    anchor = href.split("#", 1)[1]
    assert page.locator(f'[id="{anchor}"]').count() == 1
    assert all(t and t != "（需要 JavaScript）" for t in titles)
    page.close()


def test_practice_mode_hides_answers_persists_and_prints_everything(browser, site_url):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(site_url + "disks/raw-disk/")
    answer = page.locator(".admonition.abstract").first
    assert answer.is_visible()
    page.click("#practice-switch")
    assert not answer.is_visible()
    page.click(".practice-reveal >> nth=0")
    assert answer.is_visible()
    # the switch is remembered on the next page and on a reload
    page.goto(site_url + "appendix/questions/")
    assert page.get_attribute("#practice-switch", "aria-pressed") == "true"
    page.goto(site_url + "disks/raw-disk/")
    answer = page.locator(".admonition.abstract").first
    assert not answer.is_visible()
    page.emulate_media(media="print")
    assert answer.is_visible()
    page.emulate_media(media="screen")
    page.click("#practice-switch")
    assert answer.is_visible()
    ctx.close()
