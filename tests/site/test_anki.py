"""The Anki deck (make anki): one note per question of the question index, clean backs, stable ids.

The deck is built twice from the session's site build into tmp_path, the second time with
another HANDBOOK_SITE_URL, and opened as what it is: a zip holding an SQLite collection
(collection.anki2).  The expected counts come from the built question index page.
"""
from __future__ import annotations

import html
import json
import re
import sqlite3
import sys
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import genanki
import pytest

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_anki  # noqa: E402

SITE_URL = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M).group(1)
OTHER_URL = "https://handbook.example.org/book/"
TAGS = re.compile(r"<[^>]+>")
PRE = re.compile(r"<pre\b[^>]*>(.*?)</pre>", re.S)


def _text(fragment: str) -> str:
    return html.unescape(TAGS.sub("", fragment))


def _open(apkg: Path, into: Path) -> dict:
    with zipfile.ZipFile(apkg) as z:
        assert "collection.anki2" in z.namelist()
        z.extract("collection.anki2", into)
    db = sqlite3.connect(into / "collection.anki2")
    try:
        models = json.loads(db.execute("select models from col").fetchone()[0])
        decks = json.loads(db.execute("select decks from col").fetchone()[0])
        rows = db.execute("select n.guid, n.mid, n.flds, n.tags, c.did from notes n join cards c on c.nid = n.id "
                          "order by c.due").fetchall()
    finally:
        db.close()
    (mid, model), = models.items()
    names = [f["name"] for f in model["flds"]]
    notes = [{"guid": g, "mid": int(m), "did": did, "tags": t.split(), **dict(zip(names, f.split("\x1f")))}
             for g, m, f, t, did in rows]
    return {"model_id": int(mid), "model": model, "deck_ids": {int(d) for d in decks if d != "1"}, "notes": notes}


@pytest.fixture(scope="module")
def decks(site_dir, tmp_path_factory):
    """The deck built twice, with the default site URL and with another one."""
    mod = build_anki
    out = []
    for n, url in enumerate([None, OTHER_URL]):
        d = tmp_path_factory.mktemp(f"anki{n}")
        mp = pytest.MonkeyPatch()
        try:
            if url:
                mp.setenv("HANDBOOK_SITE_URL", url)
            else:
                mp.delenv("HANDBOOK_SITE_URL", raising=False)
            assert mod.main(["--site", str(site_dir), "--out", str(d)]) == 0
        finally:
            mp.undo()
        out.append(_open(d / "handbook.apkg", d))
    return mod, out


def _index_counts(site_dir: Path) -> tuple[int, int]:
    text = (site_dir / "appendix" / "questions" / "index.html").read_text(encoding="utf-8")
    m = re.search(r'<p class="qcount">共 (\d+) 道原题、(\d+) 道追问。</p>', text)
    assert m, "the question index prints no count"
    return int(m.group(1)), int(m.group(2))


def _anchor(note: dict, site_url: str = SITE_URL) -> str:
    """'page/#anchor' of a note, from its link back to the site."""
    href = html.unescape(re.search(r'href="([^"]+)"', note["链接"]).group(1))
    assert href.startswith(site_url), href
    parts = urlsplit(href[len(site_url):])
    return unquote(parts.path) + "#" + unquote(parts.fragment)


def test_one_note_per_question_of_the_index(site_dir, decks):
    _, (deck, _) = decks
    seed, follow = _index_counts(site_dir)
    assert seed > 40 and follow > 300
    assert len(deck["notes"]) == seed + follow
    kinds = Counter(n["类型"] for n in deck["notes"])
    assert kinds == {"原题": seed, "追问": follow}
    # the same questions as questions.json, in its order
    data = json.loads((site_dir / "assets" / "questions.json").read_text(encoding="utf-8"))
    expected = [f'{p["url"]}#{i}' for p in data for q in p["questions"] for i in [q["id"]] + [f["id"] for f in q["followups"]]]
    assert [_anchor(n) for n in deck["notes"]] == expected


def test_fronts_backs_and_tags(site_dir, decks):
    _, (deck, _) = decks
    data = json.loads((site_dir / "assets" / "questions.json").read_text(encoding="utf-8"))
    chapter = {p["url"]: p["chapter"] for p in data}
    parent = {f'{p["url"]}#{f["id"]}': q["title"] for p in data for q in p["questions"] for f in q["followups"]}
    assert "{{题目}}" in deck["model"]["tmpls"][0]["qfmt"] and "{{章节}}" in deck["model"]["tmpls"][0]["qfmt"]
    assert "{{答案}}" in deck["model"]["tmpls"][0]["afmt"] and "{{链接}}" in deck["model"]["tmpls"][0]["afmt"]
    for n in deck["notes"]:
        where = _anchor(n)
        page = where.split("#")[0]
        assert _text(n["题目"]).strip(), where
        assert _text(n["答案"]).strip(), f"{where}: empty back"
        assert n["章节"] == html.escape(chapter[page])
        assert set(n["tags"]) == {chapter[page].replace(" ", "_"), n["类型"]}, where
        assert n["上文"] == html.escape(parent.get(where, "")), where    # a follow-up names its question
        for field in ("题目", "答案"):
            assert '<span class="' not in n[field], f"{where}: highlight markup left in {field}"
            assert "headerlink" not in n[field] and "<svg" not in n[field] and "<script" not in n[field]
    assert sum("<pre><code>" in n["答案"] for n in deck["notes"]) >= 10


def test_code_keeps_its_text(site_dir, decks):
    """Every code block on a card is the text of a code block of its page, highlight spans removed."""
    _, (deck, _) = decks
    checked = 0
    pages: dict[str, str] = {}
    for n in deck["notes"]:
        page = _anchor(n).split("#")[0]
        if page not in pages:
            built = (site_dir / page / "index.html").read_text(encoding="utf-8")
            pages[page] = "\n".join(_text(b) for b in PRE.findall(built))
        for block in PRE.findall(n["答案"]):
            code = _text(block).rstrip("\n")
            if code.endswith("…"):        # an excerpt cut short: its first lines
                code = code[:-1].rstrip("\n")
            assert code and code in pages[page], f"{_anchor(n)}: code differs from the page"
            checked += 1
    assert checked >= 10


def test_ids_stable_and_independent_of_the_site_url(decks):
    mod, (first, second) = decks
    guids = [n["guid"] for n in first["notes"]]
    assert len(set(guids)) == len(guids)
    assert ([(_anchor(n), n["guid"]) for n in first["notes"]]
            == [(_anchor(n, OTHER_URL), n["guid"]) for n in second["notes"]])
    assert first["model_id"] == second["model_id"] == mod.MODEL_ID
    assert first["deck_ids"] == second["deck_ids"] == {mod.DECK_ID}
    assert all(n["did"] == mod.DECK_ID and n["mid"] == mod.MODEL_ID for n in first["notes"])
    # the link follows HANDBOOK_SITE_URL (checked by _anchor above), the note id does not
    by_anchor = {_anchor(n): n["guid"] for n in first["notes"]}
    assert by_anchor["disks/raw-disk/#raw-disk-steps"] == genanki.guid_for("disks/raw-disk/#raw-disk-steps")


def test_moved_questions_keep_their_first_note_id(site_dir, decks):
    """A question moved by a page split keeps the guid of its old place (the .moved stub)."""
    _, (deck, _) = decks
    by_anchor = {_anchor(n): n["guid"] for n in deck["notes"]}
    came_from: dict[str, set[str]] = {}
    for path in sorted(site_dir.glob("**/index.html")):
        if "assets" in path.relative_to(site_dir).parts:
            continue
        url = path.parent.relative_to(site_dir).as_posix() + "/"
        url = "" if url == "./" else url
        for m in re.finditer(r'<a class="moved" href="([^"]+)" id="([^"]+)">', path.read_text(encoding="utf-8")):
            target = urlsplit(urljoin("/" + url, html.unescape(m.group(1))))
            came_from.setdefault(target.path.lstrip("/") + "#" + unquote(target.fragment), set()).add(f"{url}#{m.group(2)}")

    def roots(key: str, seen=()) -> set[str]:
        if key not in came_from or key in seen:
            return {key}
        return set().union(*(roots(old, (*seen, key)) for old in came_from[key]))

    moved = [key for key in came_from if key in by_anchor]
    assert len(moved) >= 5
    for key in moved:
        assert by_anchor[key] in {genanki.guid_for(r) for r in roots(key)}, key
        assert by_anchor[key] != genanki.guid_for(key), key
    # one case spelled out: 简单介绍 KVM moved from the chapter's first page to kvm/
    assert by_anchor["virtualization/kvm/#kvm"] == genanki.guid_for("virtualization/#kvm")
