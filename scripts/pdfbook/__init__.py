"""The two PDF editions of the handbook, printed by Debian's Chromium (`make pdf`).

``scripts/build_pdf.py`` runs :mod:`pdfbook.__main__`, which goes through the phases
in this order, one module each:

* :mod:`pdfbook.assemble`: the site is built (``scripts/sitekit.py``, ``--strict``) or
  given; the nav gives the parts and the order of pages, ``assets/questions.json``
  (hooks/questions.py) the questions; each page's <article> is taken from the built
  HTML, its ids prefixed with the page number and its links rewritten to point
  inside the PDF.
* :mod:`pdfbook.editions`: all pages are joined into one print page per edition at
  the root of the site (完整版: every page, answers and follow-ups open; 题目版: the
  questions only, each linking to its answer online), loading Material's CSS, our
  print CSS and scripts/pdf/print.js (Mermaid to inline SVG, KaTeX, tabs).  Running
  headers are CSS margin boxes of a named page per chapter.
* :mod:`pdfbook.fonts`: Noto CJK as TrueType subsets of the characters used, so that
  Chromium embeds named fonts instead of Type 3 glyphs.
* :mod:`pdfbook.outline`: Chromium prints each page twice; the first print's outline
  (bookmarks, one per heading) gives the page of every heading, those numbers go into
  the table of contents, and the second print is the result.
  :mod:`pdfbook.pdfdoc` reads the outline and links (stdlib only; the tests use it too).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "scripts" / "pdf"          # print.css and print.js
