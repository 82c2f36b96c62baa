#!/usr/bin/env python3
"""Build the two PDF editions of the handbook with Debian's Chromium (what `make pdf` runs).

    .venv/bin/python scripts/build_pdf.py            # build the site, print both editions to dist/
    .venv/bin/python scripts/build_pdf.py --site DIR # print an existing build

The work is done by the package scripts/pdfbook/, one module per phase (assemble,
editions, fonts, outline); see its docstring.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pdfbook.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
