"""MkDocs only: fix Material 9.8's Chinese query segmentation, and write a smaller index.

Why a hook: the first two fixes apply to files that MkDocs' search plugin and Material's theme
write into the built site (the search worker's minified script, search/search_index.json),
after every page is rendered; there is no Markdown to change.  The third marks HTML that
only Material's search plugin reads.  Zensical has a search of its own
(search.json, its own worker and segmentation), which these patches do not concern.

1. An off-by-one in the search worker ruins Chinese queries.  Material segments
   each run of Han characters in a query against the words of the search index
   (function ``fe`` in the minified worker).  Its inner loop,
   ``for (o = s + 1; o < t.length; o++)``, never tries a word that ends at the
   last character of the query, so a query that *is* an indexed word (归置组,
   故障域) is split into whatever shorter words it starts with (归, 置) and the
   last character is dropped: results are ranked on the wrong terms.  Allowing
   ``o <= t.length`` makes the query's own word match.  The search-quality tests
   in tests/site/test_search_quality.py fail without this patch.  The patch is
   applied to the copy in the built site, never to the installed package, and
   the build stops if the worker no longer has the expected code (then check
   whether a new Material release fixed it and drop this part).

2. The index Material writes (search/search_index.json) escapes every non-ASCII
   character (``\\u5206`` is 6 bytes where UTF-8 needs 3), and jieba's
   segmentation puts a zero-width space (U+200B, one of the index's separators)
   around every run of Han characters, also where a space or another separator
   already stands, and Markdown leaves whitespace between block elements.  The
   index is rewritten here as UTF-8 JSON without those: the worker splits text on
   runs of separators and skips empty ranges, so every section yields the same
   tokens and the same result snippets (zero-width spaces are invisible, and
   whitespace between ``</p>`` and ``<p>`` is not rendered).  The text of code
   blocks is kept whole: a match inside one shows that block as the snippet.
   Material's offline plugin (OFFLINE=true) inlines the index into
   search/search_index.js after this hook has run, so both editions get it.

3. The source listings of the worked examples (code blocks titled ``snippets/...``, 75 of
   them, about a seventh of the index's tokens) are left out of the index: Material's search
   plugin skips an element with a ``data-search-exclude`` attribute and removes the
   attribute from the page after indexing.  Building the index in the reader's browser costs
   time per token, and a listing repeats what the prose around it names (the functions, the
   limits and their sources), which stays indexed; console sessions, pycon examples and
   every other code block stay in the index.

The search index and worker are loaded on first use, not on page load: see
overrides/partials/search-lazy.html.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

BUGGY = "for(let o=s+1;o<t.length;o++)t.slice(s,o)in e"
FIXED = "for(let o=s+1;o<=t.length;o++)t.slice(s,o)in e"

# The characters mkdocs.yml's search separator splits on (its first alternative is
# "[" + SEPARATORS + "]+"; the build stops if the two differ): ASCII punctuation that joins
# words in code and commands, and the full-width punctuation of Chinese prose, which jieba
# leaves as tokens of its own ("，" was the second most frequent of the index's 182,000 tokens)
# or glued to the Latin words around it ("ceph（crushtool、osdmaptool、ceph" was one token).
SEPARATORS = r"""\s\u200b\-_,:!=\[\]()"`'/#{};|$\\，。、；：？！（）「」『』《》“”‘’…—"""
_NOT_ZWSP = SEPARATORS.replace(r"\u200b", "")
# a zero-width space next to whitespace, another separator or a tag
REDUNDANT_ZWSP = re.compile(rf"\u200b+(?=[{_NOT_ZWSP}<]|$)|(?:(?<=[{_NOT_ZWSP}>])|^)\u200b+")
BLOCK = "p|ul|ol|li|pre"
BETWEEN_BLOCKS = re.compile(rf"(</(?:{BLOCK})>)\s+(?=<(?:{BLOCK})>)")


# the opening tag of a worked example's source listing, as pymdownx.highlight writes it
LISTING = re.compile(r'<div class="language-python highlight"(?=><span class="filename">snippets/)')


def on_page_content(html: str, **kwargs) -> str:
    return LISTING.sub(r'\g<0> data-search-exclude="listing"', html)


def slim(text: str) -> str:
    """Drop what the search worker ignores.

    >>> slim("\\u200b分区\\u200b \\u200bswap\\u200b，\\u200b表\\u200b\\u200b的</p> <p>a")
    '分区 swap，表\\u200b\\u200b的</p><p>a'
    """
    return BETWEEN_BLOCKS.sub(r"\1", REDUNDANT_ZWSP.sub("", text))


def slim_index(path: Path) -> None:
    index = json.loads(path.read_text(encoding="utf-8"))
    for doc in index["docs"]:
        for field in ("title", "text"):
            if isinstance(doc.get(field), str):
                doc[field] = slim(doc[field])
    data = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
    # U+2028/U+2029 are valid in JSON but were line breaks in JavaScript before ES2019
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    path.write_text(data, encoding="utf-8")


def on_post_build(config, **kwargs):
    site = Path(config["site_dir"])
    search = next((p for name, p in config["plugins"].items() if name.split("/")[-1] == "search"), None)
    if search is None:                  # no search plugin: no index, no worker to fix
        return
    if not search.config.separator.startswith(f"[{SEPARATORS}]+|"):
        raise SystemExit("hooks/search_fix.py: the search separator in mkdocs.yml no longer starts with "
                         f"[{SEPARATORS}]+; keep SEPARATORS equal to it")
    for worker in (site / "assets" / "javascripts" / "workers").glob("search.*.min.js"):
        code = worker.read_text(encoding="utf-8")
        if code.count(BUGGY) == 1:
            worker.write_text(code.replace(BUGGY, FIXED), encoding="utf-8")
        elif FIXED not in code:
            raise SystemExit(f"hooks/search_fix.py: {worker.name} changed; re-check Material's query segmentation")
    index = site / "search" / "search_index.json"
    if index.is_file():
        slim_index(index)
