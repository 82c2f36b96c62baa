"""Fix an off-by-one in Material 9.8's search worker that ruins Chinese queries.

Material segments each run of Han characters in a query against the words of
the search index (function ``fe`` in the minified worker).  Its inner loop,
``for (o = s + 1; o < t.length; o++)``, never tries a word that ends at the last
character of the query, so a query that *is* an indexed word (归置组, 故障域)
is split into whatever shorter words it starts with (归, 置) and the last
character is dropped: results are ranked on the wrong terms.  Allowing
``o <= t.length`` makes the query's own word match.  The search-quality tests in
tests/site/test_search_quality.py fail without this patch.

The patch is applied to the copy in the built site, never to the installed
package, and the build stops if the worker no longer has the expected code
(then check whether a new Material release fixed it and drop this hook).
"""
from __future__ import annotations

from pathlib import Path

BUGGY = "for(let o=s+1;o<t.length;o++)t.slice(s,o)in e"
FIXED = "for(let o=s+1;o<=t.length;o++)t.slice(s,o)in e"


def on_post_build(config, **kwargs):
    workers = list((Path(config["site_dir"]) / "assets" / "javascripts" / "workers").glob("search.*.min.js"))
    if not workers:
        return
    for worker in workers:
        code = worker.read_text(encoding="utf-8")
        if code.count(BUGGY) == 1:
            worker.write_text(code.replace(BUGGY, FIXED), encoding="utf-8")
        elif FIXED not in code:
            raise SystemExit(f"hooks/search_fix.py: {worker.name} changed; re-check Material's query segmentation")
