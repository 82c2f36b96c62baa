"""A Python-Markdown extension both builders load (mkdocs.yml: ``- bookgen.markdown_ext``).

1. Follow-up ids.  A follow-up is a ``??? question "..."`` block (pymdownx.details makes it a
   ``<details class="question">``).  Each one without an id of its own gets
   ``<id of the ## question above>-f<n>``, n counting the follow-ups under that question from 1
   (``q-f<n>`` before the first ``##``); a follow-up that already has an id (written as HTML,
   where one moved away) keeps it and still counts.  The question index, the drill page and
   readers' stored ratings link to these ids, so they are made here, in the Markdown stage,
   where MkDocs, Zensical and the pre-build generator (bookgen.pages) all see the same ones.

2. Generated content.  An appendix page holds placeholders, ``<div id="question-index" markdown>
   </div>`` and the like (:data:`PLACEHOLDERS`); the pre-build generator (bookgen.pages) writes
   their contents to includes/generated/ID.html, and this extension puts them into the page's
   element tree, where the builder treats their links as it treats the page's own Markdown links
   (MkDocs and Zensical both turn ``../disks/raw-disk.md#id`` into a URL of their scheme and
   check it).  Raw HTML would not do: MkDocs leaves links in raw HTML as they are, Zensical reads
   them relative to the source file.  The text is not run through abbreviations again (the
   index stays within the page budget), and the placeholder gets ``data-search-exclude`` (the
   search index keeps the chapters' own text, as before these pages were generated).

3. Slimmer code blocks.  Pygments wraps every token in a span.  Four classes of them change
   nothing on screen: ``w`` (whitespace; Material has no rule for it), ``n`` (plain names;
   Material colours them ``--md-code-hl-name-color``, which both palettes define as
   ``var(--md-code-fg-color)``, the colour the code already has), and ``p`` and ``o``
   (punctuation and operators, which docs/assets/css/extra.css sets to that same colour).
   Unwrapping those, and merging runs of adjacent spans of the same class, takes about half of
   the elements out of a code-heavy page, and Material's script styles and lays out every
   element at load (bench/site_bench.py prints the Lighthouse figures).  The text of the code is
   unchanged, so copy, search and the Run button see the same characters.  This runs as a
   postprocessor on the Markdown's own output (the highlighted blocks come back from the HTML
   stash there), not on built pages.  tests/site/test_slim_code.py checks in Chromium, in both
   colour schemes, that a span of each unwrapped class has the colour of the code around it; if
   a Material release changes that, the test fails and the class must come off the list below.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from html.parser import HTMLParser
from pathlib import Path

from markdown import Extension
from markdown.postprocessors import Postprocessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

GENERATED = Path(__file__).resolve().parent.parent / "includes" / "generated"
# the id of each placeholder -> the page that holds it
PLACEHOLDERS = {
    "question-index": "appendix/questions.md",
    "errata-list": "appendix/errata.md",
    "drill-today": "appendix/drill.md",
    "drill": "appendix/drill.md",
    "drill-mock": "appendix/drill.md",
    "drill-progress": "appendix/drill.md",
}


def followup_id(parent: str, n: int) -> str:
    """The id of the n-th follow-up (from 1) under the question with id ``parent``."""
    return f"{parent or 'q'}-f{n}"


class FollowupIds(Treeprocessor):
    """Give every ``details.question`` its id, in document order (see the module docstring)."""

    def run(self, root: etree.Element) -> None:
        parent = ""
        counter: dict[str, int] = {}
        for el in root.iter():
            if el.tag == "h2":
                parent = el.get("id", "")
            elif el.tag == "details" and el.get("class") == "question":
                counter[parent] = counter.get(parent, 0) + 1
                if not el.get("id"):
                    el.set("id", followup_id(parent, counter[parent]))


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _ElementBuilder(HTMLParser):
    """HTML (the generator's own, well-formed) as ElementTree elements under one root."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = etree.Element("div")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        el = etree.SubElement(self.stack[-1], tag, dict(attrs))
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        etree.SubElement(self.stack[-1], tag, dict(attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = AtomicString((parent[-1].tail or "") + data)
        else:
            parent.text = AtomicString((parent.text or "") + data)


def html_elements(text: str) -> etree.Element:
    """A <div> holding the elements of an HTML fragment (texts atomic: no inline processing).

    >>> el = html_elements('<p class="a">x &amp; <a href="b.md#c">MBR</a></p><br>')
    >>> [(c.tag, c.get("class")) for c in el], el[0][0].get("href"), el[0].text
    ([('p', 'a'), ('br', None)], 'b.md#c', 'x & ')
    """
    builder = _ElementBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


class GeneratedContent(Treeprocessor):
    """Fill each placeholder with its generated contents (see the module docstring)."""

    def run(self, root: etree.Element) -> None:
        for el in root.iter("div"):
            div_id = el.get("id")
            if div_id not in PLACEHOLDERS or len(el) or (el.text or "").strip():
                continue
            path = GENERATED / f"{div_id}.html"
            if not path.is_file():
                raise FileNotFoundError(f"bookgen: {path} is missing; `python -m bookgen.pages` writes it "
                                        "(make build, make zensical and the test builds run it first)")
            el.extend(list(html_elements(path.read_text(encoding="utf-8"))))
            el.set("data-search-exclude", None)


_PRE = re.compile(r"<pre\b[^>]*>.*?</pre>", re.S)
UNWRAPPED = ("n", "w", "p", "o")
_INVISIBLE = re.compile(r'<span class="(?:' + "|".join(UNWRAPPED) + r')">([^<]*)</span>')
# Neighbours of one class merge also across plain whitespace between them (the newline
# between two lines of console output, ``go``): whitespace shows no colour.  Not for the
# classes Material draws a box or background for.
_SAME_NEIGHBOUR = re.compile(r'(<span class="((?!err\b|hll\b)[\w-]+)">[^<]*)</span>(\s*)<span class="\2">')


def slim(pre_html: str) -> str:
    """Unwrap no-op token spans and merge same-class neighbours inside one <pre>.

    >>> slim('<pre><span class="n">x</span><span class="o">=</span><span class="mi">1</span>'
    ...      '<span class="w"> </span><span class="mi">2</span></pre>')
    '<pre>x=<span class="mi">1 2</span></pre>'
    """
    out = _INVISIBLE.sub(r"\1", pre_html)
    while True:
        merged = _SAME_NEIGHBOUR.sub(r"\1\3", out)
        if merged == out:
            return out
        out = merged


class SlimCode(Postprocessor):
    def run(self, text: str) -> str:
        return _PRE.sub(lambda m: slim(m.group(0)), text)


class HandbookExtension(Extension):
    def extendMarkdown(self, md) -> None:
        # after toc (5), which gives headings without an explicit id theirs
        md.treeprocessors.register(FollowupIds(md), "handbook_followup_ids", 4)
        # after inline (20), abbr (7) and toc (5), before MkDocs turns .md links into URLs (0)
        md.treeprocessors.register(GeneratedContent(md), "handbook_generated", 3)
        # after the raw HTML postprocessor (30), which puts the highlighted code back
        md.postprocessors.register(SlimCode(md), "handbook_slim_code", 5)


def makeExtension(**kwargs) -> HandbookExtension:
    return HandbookExtension(**kwargs)
