"""Test configuration shared by the whole suite.

* Sybil runs every ``python``/``py``/``pycon`` fenced block of every page in
  docs/ (fences with attributes such as ``title="..."``, and fences indented
  inside admonitions, tabs and details included), after expanding
  pymdownx.snippets ``--8<--`` lines with the site's own snippet settings read
  from mkdocs.yml.  A block that starts with ``>>>`` is a doctest; any other
  block is executed.  All blocks of a page share one namespace.
* Sybil also runs the doctests in snippets/*.py.
* Under CI=true a skipped test is turned into a failure.
"""
from __future__ import annotations

import doctest
import importlib
import io
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sybil import Region, Sybil
from sybil.parsers.rest import DocTestParser as RestDocTestParser

ROOT = Path(__file__).resolve().parent
SNIPPETS = ROOT / "snippets"
for p in (str(SNIPPETS), str(ROOT / "tests"), str(ROOT / "tests" / "labs")):   # labs: fixtures the twins share
    if p not in sys.path:
        sys.path.insert(0, p)

from pagekit import fences  # noqa: E402
from snippet_expand import expand_snippets, include_modules, load_snippet_config  # noqa: E402

# Property tests in CI: the same examples on every run (a new counterexample is found by a
# developer's run or by make fuzz, not by chance in the middle of CI), and no per-example
# deadline (a deadline turns a busy machine into a failure).  Elsewhere hypothesis draws new
# examples each run.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")

# the session's site build (site_build, site_dir), shared by tests/site and tests/pdf
pytest_plugins = ["sitefixtures"]

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

RUNNABLE = {"python", "py", "pycon"}


def _doctest_evaluator(example) -> str | None:
    source, lineno = example.parsed
    _skip_without_lab_modules(source)
    test = doctest.DocTestParser().get_doctest(
        source, example.namespace, str(example.path), str(example.path), lineno)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    runner.run(test, out=out.write, clear_globs=False)
    # DocTest works on a copy of the namespace: carry its names over to the page's next blocks
    example.namespace.update(test.globs)
    if runner.failures:
        return out.getvalue()
    return None


def _import_evaluator(example) -> None:
    """A block that only shows sections of snippet modules: running it means importing them.

    Sections may be methods of a class or depend on the module's imports, so they
    cannot run on their own; the module they come from can.  Its names join the page.
    """
    modules, _ = example.parsed
    for name in modules:
        module = importlib.import_module(name)
        example.namespace.update({k: v for k, v in vars(module).items() if not k.startswith("__")})


# Modules a page imports that `make venv` does not install (`make lab-venv` does, built
# against Debian's libvirt-dev).  A block that imports a missing one skips, so `make check`
# runs on a machine without them; under CI=true that skip is a failure like any other.
LAB_VENV_MODULES = {"libvirt": "libvirt-python (make lab-venv)"}
_IMPORT_LINE = re.compile(r"^(?:>>>|\.\.\.)?[ \t]*(?:import|from)[ \t]+(\w+)", re.MULTILINE)


def _skip_without_lab_modules(source: str) -> None:
    for name in _IMPORT_LINE.findall(source):
        if name in LAB_VENV_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:
                pytest.skip(f"this block imports {name}, which is not installed: {LAB_VENV_MODULES[name]}")


def _exec_evaluator(example) -> None:
    source, lineno = example.parsed
    _skip_without_lab_modules(source)
    # dont_inherit: the page's code must not inherit this file's `from __future__` imports
    code = compile("\n" * (lineno) + source, str(example.path), "exec", dont_inherit=True)
    exec(code, example.namespace)


class MarkdownRunnableBlocks:
    """Sybil parser: runnable fenced blocks in a Markdown page (fences read by tests/pagekit.py)."""

    def __init__(self, config: dict):
        self.config = config

    def __call__(self, document):
        for fence in fences(document.text):
            if fence.lang not in RUNNABLE:
                continue
            raw = fence.body
            body = expand_snippets(raw, self.config)      # also proves every include resolves
            # the opening fence's line number = the number of lines before the body
            includes = include_modules(raw)
            if includes is not None:
                yield Region(fence.start, fence.end, (includes, fence.line), _import_evaluator)
                continue
            evaluator = _doctest_evaluator if body.lstrip().startswith(">>>") else _exec_evaluator
            yield Region(fence.start, fence.end, (body, fence.line), evaluator)


def _setup(namespace):
    namespace["__name__"] = "__page__"


_config = load_snippet_config(ROOT / "mkdocs.yml")

pages = Sybil(parsers=[MarkdownRunnableBlocks(_config)], path=str(ROOT / "docs"),
              patterns=["*.md"], setup=_setup, name="pages")
snippet_doctests = Sybil(parsers=[RestDocTestParser(optionflags=OPTIONFLAGS)],
                         path=str(SNIPPETS), patterns=["*.py"], name="snippets")

pytest_collect_file = (pages + snippet_doctests).pytest()


# Host capabilities a CI machine may lack without failing the run.  A test that needs one
# skips with the reason "missing host capability NAME: ..."; under CI=true that skip stays a
# skip (every other skip fails the run) and the summary names it.  Keep this list short: only
# what a project cannot install for itself.
ALLOWED_MISSING = {"kvm": "/dev/kvm (hardware or PVM virtualization in the machine's kernel)"}
MISSING_CAPABILITY = re.compile(r"missing host capability (\w+):")
_missing_seen: dict[str, int] = {}


def _allowed_missing(reason: str) -> str | None:
    m = MISSING_CAPABILITY.search(reason)
    return m.group(1) if m and m.group(1) in ALLOWED_MISSING else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        capability = _allowed_missing(reason)
        if capability:
            _missing_seen[capability] = _missing_seen.get(capability, 0) + 1
        elif os.environ.get("CI") == "true":
            report.outcome = "failed"
            report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def pytest_terminal_summary(terminalreporter):
    for name, count in sorted(_missing_seen.items()):
        terminalreporter.write_line(
            f"host capability missing on this machine: {name} ({ALLOWED_MISSING[name]}); "
            f"{count} test(s) that need it did not run", yellow=True)
