"""What both site builders share: MkDocs + Material (`make build`) and Zensical (`make zensical`).

Zensical reads mkdocs.yml and runs the same Python-Markdown extensions, but no MkDocs hooks,
so everything the book generates from its sources happens here, before or inside the Markdown
stage, never by editing built HTML:

* ``bookgen.markdown_ext``: a Python-Markdown extension (listed in mkdocs.yml) that gives each
  ``??? question`` follow-up its id and drops the Pygments spans that change no colour;
* ``bookgen.mermaid``: the superfences formatter that puts each Mermaid diagram in the page as
  inline SVG (cached in .cache/mermaid/);
* ``bookgen.pages`` (``python -m bookgen.pages``): the pre-build generator that writes the
  question index, errata and drill fragments (includes/generated/) and the practice data
  (docs/assets/questions.json, docs/assets/js/practice-*.js), all git-ignored;
* ``bookgen.vendor`` (``python -m bookgen.vendor``, ``make vendor``): copies the pinned npm
  scripts with their licences and the snippets for the in-browser runner into docs/assets/;
* ``bookgen.site``: one site build (generator, vendor copy, builder) for make, tests, bench
  and the PDF and offline editions.

Modules are imported by name from mkdocs.yml, so builders run from the repository root with
``python -m mkdocs`` / ``python -m zensical`` (the Makefile does).
"""
