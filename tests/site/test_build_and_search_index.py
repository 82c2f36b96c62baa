"""The strict build has no warnings; the search index is segmented by jieba and slimmed without losing a token."""
from __future__ import annotations

import html
import json
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.site


def test_strict_build_has_zero_warnings(site_build):
    _, log = site_build
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln]
    assert warnings == []


def _tokens(index: dict) -> set[str]:
    sep = re.compile(index["config"]["separator"])
    tokens: set[str] = set()
    for doc in index["docs"]:
        text = re.sub(r"<[^>]+>", " ", doc["title"] + " " + doc["text"])
        for piece in sep.split(text):
            tokens.update(t for t in piece.split("\u200b") if t)
    return tokens


def test_search_index_is_segmented_by_jieba_with_the_user_dictionary(site_dir):
    index = json.loads((site_dir / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert index["config"]["lang"] == ["zh"]
    tokens = _tokens(index)
    # without jieba the Chinese text would be one long token per sentence
    assert "分区表" in tokens and "文件系统" in tokens
    assert "分区" in tokens and "挂载" in tokens
    # every term of our user dictionary that a page uses must come out as one token
    from pathlib import Path
    words = [ln.split()[0] for ln in (Path(__file__).resolve().parents[2] / "jieba_userdict.txt")
             .read_text(encoding="utf-8").splitlines() if ln.strip()]
    plain = "".join(d["text"] for d in index["docs"]).replace("\u200b", "")
    used = [w for w in words if w in plain]
    assert "文件系统" in used
    # not split apart: the term is a token, or lies inside a longer token (主副本 holds 副本)
    split = [w for w in used if w not in tokens and not any(w in t for t in tokens)]
    assert split == []


# -- the index as hooks/search_fix.py writes it: smaller, with the same tokens --

def _search_fix():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "hooks" / "search_fix.py"
    spec = importlib.util.spec_from_file_location("search_fix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the separator of mkdocs.yml's search plugin, as the index carries it: the hook's characters
# (the build stops when mkdocs.yml's differ from them), then dots, escaped < >, camelCase
_SEPARATOR = rf"[{_search_fix().SEPARATORS}]+" + r"|\.(?!\d)|&[lg]t;|(?!\b)(?=[A-Z][a-z])"


def _worker_tokens(text: str, sep: re.Pattern) -> list[str]:
    """Material's worker: split the text into sections between tags, each section on runs of the separator."""
    return [t.lower() for section in re.split(r"<[^>]*>", text) for t in sep.split(section) if t]


def test_search_index_is_utf8_json_without_redundant_zero_width_spaces(site_dir):
    raw = (site_dir / "search" / "search_index.json").read_text(encoding="utf-8")
    index = json.loads(raw)
    assert index["config"]["separator"] == _SEPARATOR
    # UTF-8, not \\uXXXX escapes: one CJK character is 3 bytes, not 6
    assert raw == json.dumps(index, ensure_ascii=False, separators=(",", ":"))
    assert "文件系统" in raw
    slim = _search_fix().slim
    for doc in index["docs"]:
        assert slim(doc["text"]) == doc["text"] and slim(doc["title"]) == doc["title"], doc["location"]
        assert not re.search(r"\u200b\s|\s\u200b|</p>\s+<p>", doc["text"]), doc["location"]
    # a section's code block is indexed once, as text inside <pre><code>, without highlighting markup
    texts = [d["text"] for d in index["docs"]]
    assert any("<pre><code>" in t for t in texts)
    assert not any("<span" in t for t in texts)


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(
    ["\u200b", " ", "\n", "分区", "表", "，", "（", "。", "「", "」", "…", "'", "#", "$", "\\", "swap", "GPT", "x86_64", "-", "_", ",", ":", "(", ")", "/",
     '"', "`", "=", ".", "3.5", "&gt;", "<p>", "</p>", "<code>", "</code>", "<li>", "</li>", "<pre>", "</pre>"]),
    max_size=40).map("".join))
@example(text="<p>\u200b <p>")
def test_slimming_keeps_every_token_the_worker_sees(text):
    sep = re.compile(_SEPARATOR)
    slim = _search_fix().slim
    assert _worker_tokens(slim(text), sep) == _worker_tokens(text, sep)
    # and what a reader sees in a result snippet: the same characters, zero-width spaces aside
    # (zero-width spaces first, then whitespace left alone between two tags: in one pass,
    # '<p>\u200b <p>' would keep the space its zero-width neighbour shielded)
    def visible(s: str) -> str:
        return re.sub(r"(?<=>)\s+(?=<)", "", s.replace("\u200b", ""))
    assert visible(slim(text)) == visible(text)


def test_the_build_stops_when_mkdocs_yml_and_the_hook_split_on_different_characters(tmp_path):
    """slim() drops a zero-width space next to a separator; with a separator the hook does not
    know, it would keep or drop the wrong ones, so the build says so instead."""
    from types import SimpleNamespace
    hook = _search_fix()
    ours = SimpleNamespace(config=SimpleNamespace(separator=_SEPARATOR))
    hook.on_post_build({"site_dir": str(tmp_path), "plugins": {"material/search": ours}})   # no site files: nothing to do
    old = SimpleNamespace(config=SimpleNamespace(separator=r'[\s\u200b\-_,:!=\[\]()"`/]+|\.(?!\d)'))
    with pytest.raises(SystemExit, match="no longer starts with"):
        hook.on_post_build({"site_dir": str(tmp_path), "plugins": {"material/search": old}})
    hook.on_post_build({"site_dir": str(tmp_path), "plugins": {}})          # a build without search


def test_worked_example_listings_are_left_out_of_the_index_and_the_other_code_is_not(site_dir):
    """hooks/search_fix.py marks code blocks titled snippets/... for Material's search to skip."""
    index = json.loads((site_dir / "search" / "search_index.json").read_text(encoding="utf-8"))
    indexed = "\n".join(d["text"] for d in index["docs"])
    page = (site_dir / "disks" / "lvm" / "index.html").read_text(encoding="utf-8")
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert 'class="filename">snippets/lvm.py' in page
    assert "def check_extent_size(" in shown                 # on the page, in the listing
    assert "def check_extent_size(" not in html.unescape(indexed)
    assert 'data-search-exclude="listing"' not in page       # Material removes it after indexing
    # pycon examples and console sessions are still found
    assert "&gt;&gt;&gt; import lvm" in indexed
    assert "<pre><code># lvs" in indexed
