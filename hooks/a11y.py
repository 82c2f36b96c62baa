"""Accessibility fixes for Material's markup that Lighthouse flags.

Material's search overlay is a role="dialog" without a name; give it one.
(Colour contrast fixes live in docs/assets/css/extra.css.)
"""
from __future__ import annotations

SEARCH_DIALOG = 'data-md-component="search" role="dialog"'


def on_post_page(output: str, page, config, **kwargs) -> str:
    return output.replace(SEARCH_DIALOG, SEARCH_DIALOG + ' aria-label="站内搜索"', 1)
