"""The strict build has no warnings, and the search index is segmented by jieba."""
from __future__ import annotations

import json
import re

import pytest

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
