"""Expand pymdownx.snippets ``--8<--`` lines the way the site does.

The settings (base_path, check_paths) are read from mkdocs.yml so that tests
and site include exactly the same text.  Supported forms, as used by the pages:
``--8<-- "file.py"`` (whole file), ``--8<-- "file.py:name"`` (a named section
between ``--8<-- [start:name]`` and ``--8<-- [end:name]``) and
``--8<-- "file.py:10:20"`` (a line range).  Section marker lines are removed.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

LINE = re.compile(r'^(?P<indent>[ \t]*)(?P<escape>;?)--8<--[ \t]+"(?P<spec>[^"]+)"[ \t]*$', re.MULTILINE)
MARKER = re.compile(r"--8<--\s*\[(start|end):([\w-]+)\]")


class _Loader(yaml.SafeLoader):
    pass


# mkdocs.yml uses !!python/name tags; for reading settings we only need them to parse
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def load_snippet_config(mkdocs_yml: Path) -> dict:
    cfg = yaml.load(Path(mkdocs_yml).read_text(encoding="utf-8"), Loader=_Loader)
    root = Path(mkdocs_yml).resolve().parent
    for ext in cfg.get("markdown_extensions", []):
        if isinstance(ext, dict) and "pymdownx.snippets" in ext:
            opts = ext["pymdownx.snippets"] or {}
            base = opts.get("base_path", ["."])
            if isinstance(base, str):
                base = [base]
            return {"base_path": [root / b for b in base], "check_paths": opts.get("check_paths", False)}
    raise ValueError(f"{mkdocs_yml}: pymdownx.snippets is not configured")


def _find(name: str, config: dict) -> Path | None:
    for base in config["base_path"]:
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None


def _section(lines: list[str], name: str, path: Path) -> list[str]:
    out, inside, found = [], False, False
    for line in lines:
        m = MARKER.search(line)
        if m and m.group(2) == name:
            if m.group(1) == "start":
                inside, found = True, True
            else:
                inside = False
            continue
        if inside:
            out.append(line)
    if not found:
        raise ValueError(f"{path}: no section named {name!r}")
    return out


def expand_snippets(text: str, config: dict) -> str:
    def replace(m: re.Match) -> str:
        if m.group("escape"):
            return m.group(0).replace(";--8<--", "--8<--", 1)
        spec = m.group("spec")
        parts = spec.split(":")
        name, rest = parts[0], parts[1:]
        path = _find(name, config)
        if path is None:
            if config["check_paths"]:
                raise FileNotFoundError(f"snippet {name!r} not found in {config['base_path']}")
            return ""
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(rest) == 1 and not rest[0].isdigit():
            lines = _section(lines, rest[0], path)
        elif rest:
            start = int(rest[0]) if rest[0] else 1
            end = int(rest[1]) if len(rest) > 1 and rest[1] else len(lines)
            lines = lines[start - 1:end]
        lines = [ln for ln in lines if not MARKER.search(ln)]
        return "\n".join(m.group("indent") + ln if ln else ln for ln in lines)
    return LINE.sub(replace, text)


def include_modules(raw: str) -> list[str] | None:
    """Module names if the block is made only of includes of .py snippets, else None."""
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if not lines:
        return None
    names = []
    for ln in lines:
        m = LINE.match(ln)
        if not m or m.group("escape") or not m.group("spec").split(":")[0].endswith(".py"):
            return None
        names.append(m.group("spec").split(":")[0][:-3])
    return list(dict.fromkeys(names))
