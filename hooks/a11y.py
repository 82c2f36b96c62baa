"""MkDocs only: accessibility fixes for Material's markup that Lighthouse flags.

Material's search overlay is a role="dialog" without a name; give it one.
(Colour contrast fixes live in docs/assets/css/extra.css.)

Why a hook: the dialog is Material's own template (partials/search.html), not the book's
Markdown; the only other way to name it is a copy of that whole partial in overrides/, to be
kept in step with every Material release.  Zensical's search dialog already carries a name
(aria-label="查找"), so it needs no counterpart.
"""
from __future__ import annotations

SEARCH_DIALOG = 'data-md-component="search" role="dialog"'


def on_post_page(output: str, page, config, **kwargs) -> str:
    return output.replace(SEARCH_DIALOG, SEARCH_DIALOG + ' aria-label="站内搜索"', 1)
