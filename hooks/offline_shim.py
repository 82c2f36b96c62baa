"""MkDocs only: in the offline edition, serve Material's iframe-worker shim from the site.

Why a hook: Material's offline plugin (enabled by OFFLINE=true, `make offline`) lets search run
from file:// through an iframe worker, and adds the shim as a polyfill that it would load from a
CDN.  Only the plugin's configuration, read while MkDocs loads its config, says whether the
build is the offline edition, so the polyfill can only be swapped for our copy
(docs/assets/vendor/iframe-worker/shim.js, copied by `make vendor`) at that moment.  Zensical
builds no offline edition of this book (`make offline` uses MkDocs), so it needs no counterpart.
"""
from __future__ import annotations

from mkdocs.plugins import event_priority

SHIM = "assets/vendor/iframe-worker/shim.js"


@event_priority(100)   # before Material's offline plugin, which would add a CDN shim otherwise
def on_config(config, **kwargs):
    offline = config.plugins.get("material/offline") or config.plugins.get("offline")
    if offline is not None and offline.config.enabled:
        config.extra["polyfills"] = [u for u in config.extra.get("polyfills", []) if "iframe-worker" not in u]
        config.extra["polyfills"].append(SHIM)
    return config
