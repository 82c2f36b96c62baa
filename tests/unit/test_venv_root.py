"""mkdocs.yml names bookgen modules: the venv must import them from any working directory
(make venv writes handbook-root.pth), or `.venv/bin/mkdocs build` fails to read its config."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bookgen_imports_outside_the_repository(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import bookgen.mermaid, bookgen.markdown_ext; print(bookgen.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:] + "\n(run make venv: it writes handbook-root.pth)"
    assert Path(proc.stdout.strip()).resolve().parent == ROOT / "bookgen"
