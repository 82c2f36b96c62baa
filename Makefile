# 存储与虚拟化面试手册 — build, serve and test.
# A fresh Debian/Ubuntu machine needs only: python3 (with venv), npm, make.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MKDOCS := $(VENV)/bin/mkdocs
SITE := site
export NO_MKDOCS_2_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
# The commit and date the book is built from, "abc1234 2026-12-07" (outside a git checkout,
# the build date): the site's footer shows it (mkdocs.yml extra.build).  Set it to override.
ifndef BOOK_BUILD
BOOK_BUILD := $(shell git log -1 --format='%h %cs' 2>/dev/null || date +'未知提交，构建于 %F')
endif
export BOOK_BUILD

.PHONY: venv lab-venv deps serve build offline test bench clean

venv: $(VENV)/.site-ok $(VENV)/.root-ok node_modules/.ok

# mkdocs.yml names modules of bookgen/ (the mermaid formatter, the Markdown extension): a .pth
# file puts the repository root on the venv's sys.path, so `.venv/bin/mkdocs build` and
# `mkdocs serve` find them from any directory, not only `python -m mkdocs` run from the root.
$(VENV)/.root-ok: $(VENV)/.site-ok
	$(PY) -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "handbook-root.pth").write_text(str(pathlib.Path.cwd().resolve()) + "\n")'
	touch $@

$(VENV)/.site-ok: requirements.txt constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

lab-venv: $(VENV)/.lab-ok
$(VENV)/.lab-ok: $(VENV)/.site-ok requirements-lab.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-lab.txt -c constraints.txt
	touch $@

node_modules/.ok: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps:
	scripts/install-debian-deps.sh

# Before any build: the vendored scripts (node_modules -> docs/assets/vendor/, with their
# licences) and the generated pages (question index, errata, drill, practice data: bookgen/pages.py),
# both git-ignored.  `python -m mkdocs` (not .venv/bin/mkdocs): mkdocs.yml names modules of
# bookgen/, which are imported from the repository root.
.PHONY: vendor pages zensical zensical-venv
vendor: venv
	$(PY) -m bookgen.vendor

pages: venv
	$(PY) -m bookgen.pages

serve: vendor pages
	$(PY) -m mkdocs serve -a 127.0.0.1:8000

build: vendor pages
	$(PY) -m mkdocs build --strict -d $(SITE)

# The same book built by Zensical (Material's successor; it reads mkdocs.yml, runs the same
# Markdown extensions and no MkDocs hooks) into site-zensical/, from the newest zensical that
# installs here, in its own venv so that MkDocs' pins stay untouched.
ZENSICAL_VENV := .venv-zensical
zensical-venv: $(ZENSICAL_VENV)/.ok
$(ZENSICAL_VENV)/.ok:
	python3 -m venv $(ZENSICAL_VENV)
	$(ZENSICAL_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade zensical
	touch $@

zensical: vendor pages zensical-venv
	$(PY) -m bookgen.site zensical site-zensical

# The offline edition: dist/handbook-offline.zip, works from file:// (search, diagrams)
offline: venv
	$(PY) scripts/build_offline.py dist

# The fast loop, for every edit: the Python blocks of every page, the snippets' doctests and
# tests/unit (ruff included), without root, Debian packages, a browser or a site build; about
# 45 s of CPU, under a minute on an idle 2-core machine.  /usr/sbin joins PATH because a page
# runs mkfs.ext4 on an image file, which needs no root.  Outside CI a page block that imports
# a lab-only module (libvirt) and the one unit test that needs root (losetup) skip; make test
# runs them, and the unit tests of seconds each listed in tests/unit/conftest.py (marker slow).
.PHONY: check
check: export PATH := $(PATH):/usr/sbin:/sbin
check: $(VENV)/.root-ok
	$(PY) -m pytest -q -m "not slow" docs snippets tests/unit

# Every test: Debian packages, Python packages, the strict site build, then pytest
# (pages, snippets' doctests, unit, twins, labs, site in Chromium).
test: deps lab-venv venv zensical-venv
	$(PY) -m pytest

# PDF editions: dist/handbook-full.pdf and dist/handbook-questions.pdf, printed by Debian's Chromium.
PDF_DEBS := chromium fonts-noto-cjk
pdf-deps:
	@missing=$$(for p in $(PDF_DEBS); do dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make pdf needs Debian packages:" $$missing; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

pdf: pdf-deps venv
	$(PY) scripts/build_pdf.py --out dist

# The Anki deck: dist/handbook.apkg, one note per question of the question index (genanki,
# pinned in requirements-lab.txt; installed here alone, without the lab's libvirt-python).
.PHONY: anki
$(VENV)/.anki-ok: $(VENV)/.site-ok requirements-lab.txt constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check $$(grep '^genanki==' requirements-lab.txt) -c constraints.txt
	touch $@

anki: $(VENV)/.anki-ok build
	$(PY) scripts/build_anki.py --site $(SITE) --out dist

# A longer run of the fuzz campaigns of tests/fuzz (make test runs them with a fixed seed in
# about 30 s): a random seed (or FUZZ_SEED=N), FUZZ_SECONDS in all (default 600), failing
# inputs with the command that replays them in dist/fuzz/, case counts in dist/fuzz/summary.txt.
.PHONY: fuzz
FUZZ_SECONDS ?= 600
fuzz: deps venv
	FUZZ_SEED=$${FUZZ_SEED:-random} FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=dist/fuzz \
	  $(PY) -m pytest -q -p no:cacheprovider --timeout=0 tests/fuzz

bench: lab-venv venv
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(SITE) site-zensical dist
