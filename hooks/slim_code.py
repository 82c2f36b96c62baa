"""Fewer DOM nodes in highlighted code, with the same look.

Pygments wraps every token in a span.  Four classes of them change nothing on
screen: ``w`` (whitespace; Material has no rule for it), ``n`` (plain names;
Material colours them ``--md-code-hl-name-color``, which both palettes define
as ``var(--md-code-fg-color)``, the colour the code already has), and ``p``
and ``o`` (punctuation and operators, which docs/assets/css/extra.css sets to
that same colour).  Unwrapping those, and merging runs of adjacent spans of
the same class, takes about half of the elements out of a code-heavy page, and
Material's script styles and lays out every element at load (bench/site_bench.py
prints the Lighthouse figures).  The text of the code is unchanged, so copy,
search and the Run button see the same characters.  tests/site/test_slim_code.py
checks in Chromium, in both colour schemes, that a span of each unwrapped class
has the colour of the code around it; if a Material release changes that, the
test fails and the class must come off the list below.
"""
from __future__ import annotations

import re

_PRE = re.compile(r"<pre\b[^>]*>.*?</pre>", re.S)
UNWRAPPED = ("n", "w", "p", "o")
_INVISIBLE = re.compile(r'<span class="(?:' + "|".join(UNWRAPPED) + r')">([^<]*)</span>')
# Neighbours of one class merge also across plain whitespace between them (the newline
# between two lines of console output, ``go``): whitespace shows no colour.  Not for the
# classes Material draws a box or background for.
_SAME_NEIGHBOUR = re.compile(r'(<span class="((?!err\b|hll\b)[\w-]+)">[^<]*)</span>(\s*)<span class="\2">')


def slim(pre_html: str) -> str:
    """Unwrap no-op token spans and merge same-class neighbours inside one <pre>."""
    out = _INVISIBLE.sub(r"\1", pre_html)
    while True:
        merged = _SAME_NEIGHBOUR.sub(r"\1\3", out)
        if merged == out:
            return out
        out = merged


def on_page_content(html: str, **kwargs) -> str:
    return _PRE.sub(lambda m: slim(m.group(0)), html)
