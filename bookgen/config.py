"""mkdocs.yml as the generator needs it: the nav, the Markdown extensions, the URL scheme.

Both builders read the same file; this reads it the way they do (``!ENV`` tags resolved from
the environment, ``!!python/...`` tags imported) and answers the few questions the generator
has: which pages in which order under which top-level section, how a page is rendered, and
what URL a page gets (directory URLs, or ``.html`` files in the offline edition, where
Material's offline plugin turns directory URLs off).
"""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MKDOCS_YML = ROOT / "mkdocs.yml"
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*\n", re.S)


class _Loader(yaml.Loader):   # mkdocs.yml is ours: its python tags name our own functions
    pass


def _env(loader: yaml.Loader, node: yaml.Node):
    """``!ENV NAME`` or ``!ENV [NAME, ..., default]``, typed as YAML would type the value."""
    if isinstance(node, yaml.ScalarNode):
        names, default = [loader.construct_scalar(node)], None
    else:
        children = node.value
        names = [loader.construct_scalar(c) for c in children[:-1]] if len(children) > 1 else \
            [loader.construct_scalar(children[0])]
        default = loader.construct_object(children[-1]) if len(children) > 1 else None
    for name in names:
        if name in os.environ:
            return yaml.safe_load(os.environ[name])
    return default


_Loader.add_constructor("!ENV", _env)


@dataclass
class NavPage:
    src_uri: str          # docs-relative path, e.g. disks/raw-disk.md
    title: str | None     # the nav's title, if it gives one
    chapter: str          # the top-level nav section ("首页" for top-level pages)


@dataclass
class BookConfig:
    raw: dict
    pages: list[NavPage] = field(default_factory=list)

    @property
    def docs_dir(self) -> Path:
        return ROOT / self.raw.get("docs_dir", "docs")

    @property
    def use_directory_urls(self) -> bool:
        """As the builder will see it: the offline plugin, when enabled, turns them off."""
        for plugin in self.raw.get("plugins", []) or []:
            if isinstance(plugin, dict) and "offline" in plugin:
                if (plugin["offline"] or {}).get("enabled", True):
                    return False
        return bool(self.raw.get("use_directory_urls", True))

    def markdown_args(self) -> tuple[list, dict]:
        """Extensions and their settings, as MkDocs passes them (its built-ins first)."""
        names, configs = ["toc", "tables", "fenced_code"], {}
        for ext in self.raw.get("markdown_extensions", []) or []:
            name, cfg = (next(iter(ext.items())) if isinstance(ext, dict) else (ext, None))
            if name not in names:
                names.append(name)
            if cfg:
                configs[name] = dict(cfg)
        snippets = configs.get("pymdownx.snippets")
        if snippets and "base_path" in snippets:      # relative to the repository, as for the builders
            base = snippets["base_path"]
            snippets["base_path"] = [str(ROOT / b) for b in ([base] if isinstance(base, str) else base)]
        return names, configs


def load(path: Path = MKDOCS_YML) -> BookConfig:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    cfg = BookConfig(raw)

    def walk(items, chapter: str | None):
        for item in items:
            if isinstance(item, str):
                cfg.pages.append(NavPage(item, None, chapter or "首页"))
                continue
            (title, value), = item.items()
            if isinstance(value, str):
                cfg.pages.append(NavPage(value, title, chapter or "首页"))
            else:
                walk(value, chapter or title)
    walk(raw.get("nav", []), None)
    return cfg


def page_url(src_uri: str, use_directory_urls: bool = True) -> str:
    """The URL MkDocs gives a page, relative to the site root ('' for the home page)."""
    stem = src_uri[:-len(".md")]
    if stem == "index" or stem.endswith("/index"):
        base = stem[:-len("index")]
        return base if use_directory_urls else base + "index.html"
    return stem + "/" if use_directory_urls else stem + ".html"


def relative_url(url: str, from_url: str) -> str:
    """``url`` (site-root-relative) as a link written on the page at ``from_url``."""
    base = from_url
    head, tail = posixpath.split(from_url)
    if "." in tail:                       # a file (offline edition): links start from its folder
        base = head
    rel = posixpath.relpath("/" + url, "/" + base)
    return rel + "/" if url.endswith("/") else rel


def split_front_matter(text: str) -> tuple[dict, str]:
    m = FRONT_MATTER.match(text)
    if not m:
        return {}, text
    return yaml.safe_load(m.group(1)) or {}, text[m.end():]


def resolve_source(href: str, src_uri: str) -> str | None:
    """Where a link written in the source page ``src_uri`` points: a docs-relative file path
    (``disks/raw-disk.md#a``, ``assets/x.svg``); ``#a`` is the page itself.  None for links
    that leave the docs tree (a scheme, ``//host`` or ``/path``): they are kept as they are.
    """
    if re.match(r"^[a-z][a-z0-9+.-]*:|^//|^/", href):
        return None
    path, hash_, frag = href.partition("#")
    if not path:
        return src_uri + hash_ + frag
    target = posixpath.normpath(posixpath.join(posixpath.dirname(src_uri), path))
    if target == ".":
        target = ""
    elif path.endswith("/"):
        target += "/"
    return target + hash_ + frag


def resolve_link(href: str, src_uri: str, use_directory_urls: bool = True) -> str | None:
    """The same link as a site-root-relative URL: a page's ``.md`` becomes the page's URL."""
    target = resolve_source(href, src_uri)
    if target is None:
        return None
    path, hash_, frag = target.partition("#")
    if path.endswith(".md"):
        path = page_url(path, use_directory_urls)
    return path + hash_ + frag


def source_relative(target: str, from_src: str) -> str:
    """A docs-relative ``target`` (``x/y.md#a``) as written in the source page ``from_src``."""
    path, hash_, frag = target.partition("#")
    rel = posixpath.relpath(path or ".", posixpath.dirname(from_src) or ".")
    return rel + hash_ + frag
