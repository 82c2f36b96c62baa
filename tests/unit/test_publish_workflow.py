"""The publishing workflow (.github/workflows/publish.yml) is a valid GitHub Actions workflow
and publishes what the issue asks for, from one job.

Validity is checked by check-jsonschema against the GitHub workflow schema it ships
(`--builtin-schema vendor.github-workflows`, no network).  The same check is run on two
broken copies to show that it can fail: a job without `runs-on`, and a permission value
GitHub does not know.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "publish.yml"
# files the release carries: what make pdf, make offline and make anki write to dist/
RELEASE_FILES = {"dist/handbook-full.pdf", "dist/handbook-questions.pdf",
                 "dist/handbook-offline.zip", "dist/handbook.apkg"}


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_the_workflow_is_valid_and_broken_copies_are_rejected(tmp_path):
    ok = check_jsonschema(WORKFLOW)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok -- validation done" in ok.stdout

    text = WORKFLOW.read_text(encoding="utf-8")
    broken = {"no-runs-on.yml": ("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04",
                                 "'runs-on' is a required property"),
              "bad-permission.yml": ("pages: write", "pages: publish",
                                     "'publish' is not one of ['read', 'write', 'none']")}
    for name, (good, bad, _) in broken.items():
        assert text.count(good) == 1, f"the mutation needs exactly one {good!r} in {WORKFLOW}"
        (tmp_path / name).write_text(text.replace(good, bad), encoding="utf-8")
    rejected = check_jsonschema(*(tmp_path / name for name in broken))
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    for name, (_, _, message) in broken.items():
        assert f"{tmp_path / name}::" in rejected.stdout, rejected.stdout
        assert message in rejected.stdout, rejected.stdout


def test_one_job_builds_publishes_and_releases_from_main():
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = wf.get("on", wf.get(True))           # YAML 1.1 reads a bare `on` key as True
    assert triggers["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in triggers
    assert wf["permissions"] == {"contents": "write", "pages": "write", "id-token": "write"}

    (job,) = wf["jobs"].values()
    assert job["environment"]["name"] == "github-pages"
    uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert uses[0] == "actions/checkout"
    assert uses.index("actions/upload-pages-artifact") < uses.index("actions/deploy-pages")
    artifact = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert artifact["with"]["path"] == "site"
    made = " ".join(runs)
    for target in ("make anki", "make pdf", "make offline"):  # make anki runs make build first
        assert target in made
    release = runs[-1]
    assert "gh release create" in release and "--clobber" in release
    assert "git log -1 --format='%cs-%h'" in release            # 2026-12-07-abc1234
    for name in RELEASE_FILES:
        assert name in release
    assert job["steps"][-1]["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_make_anki_builds_the_site_first():
    """The workflow relies on it: `make anki` leaves site/ built for the Pages artifact."""
    def dry_run(target: str) -> list[str]:
        # as a make of its own, also when this test runs under make (make check, make test)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        out = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()
    build = dry_run("build")[-1]                 # the build's own command comes last
    anki = dry_run("anki")
    assert build in anki
    assert anki.index(build) < next(i for i, line in enumerate(anki) if "build_anki.py" in line)
