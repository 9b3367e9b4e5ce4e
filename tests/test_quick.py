"""`synaudio quick` (what `make quick` runs): a git worktree on the overridden parameters,
scheduled by real `dvc repro`, the workspace untouched. `make clone-check` runs the whole
quick grid; here one dataset stage keeps it to seconds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, TINY, copy_project, git


def quick(
    project: Path, overrides: dict, *stages: str, tracking_uri: str
) -> subprocess.CompletedProcess[str]:
    (project / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        [BIN / "synaudio", "quick", "--overrides", "overrides.yaml", *stages],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("quick") / "project", TINY)


def test_quick_runs_in_a_worktree_with_the_workspace_as_it_stands(project: Path, tracking_uri: str) -> None:
    params_before = (project / "params.yaml").read_text()
    with open(project / "README.md", "a") as readme:
        readme.write("\nan uncommitted edit\n")
    (project / "untracked.txt").write_text("not yet added\n")
    levels = TINY["syntone"]["frequency"]["levels"] + 1
    result = quick(project, {"syntone": {"frequency": {"levels": levels}}}, "syntone@paper",
                   tracking_uri=tracking_uri)  # fmt: skip
    assert result.returncode == 0, result.stderr
    work = project / "build" / "quick" / "work"
    assert "HEAD + 3 changed file(s)" in result.stdout  # README, untracked.txt, overrides.yaml
    assert yaml.safe_load((work / "params.yaml").read_text())["syntone"]["frequency"]["levels"] == levels
    assert (work / "README.md").read_text().endswith("an uncommitted edit\n")
    assert (work / "untracked.txt").exists()
    assert set(yaml.safe_load((work / "dvc.lock").read_text())["stages"]) == {"syntone@paper"}
    summary = json.loads((work / "artifacts" / "syntone" / "paper" / "dataset.json").read_text())
    assert summary["frequency_levels"] == levels
    # the workspace: parameters as they were, no outputs, no lock; no report, so none copied
    assert (project / "params.yaml").read_text() == params_before
    assert not (project / "artifacts").exists() and not (project / "dvc.lock").exists()
    assert not (project / "build" / "quick" / "reports").exists()
    assert str(work) in git(project, "worktree", "list")


def test_quick_replaces_its_previous_run_and_refuses_bad_overrides(project: Path, tracking_uri: str) -> None:
    first = quick(
        project, {"syntone": {"amplitude": {"levels": 3}}}, "syntone@paper", tracking_uri=tracking_uri
    )
    assert first.returncode == 0, first.stderr
    work = project / "build" / "quick" / "work"
    second = quick(
        project, {"syntone": {"amplitude": {"levels": 4}}}, "syntone@paper", tracking_uri=tracking_uri
    )
    assert second.returncode == 0, second.stderr
    assert yaml.safe_load((work / "params.yaml").read_text())["syntone"]["amplitude"]["levels"] == 4
    assert git(project, "worktree", "list").count("build/quick/work") == 1
    bad = quick(project, {"training": {"threads": 0}}, "syntone@paper", tracking_uri=tracking_uri)
    assert bad.returncode != 0 and "overrides.yaml" in bad.stderr and "threads" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert yaml.safe_load((work / "params.yaml").read_text())["syntone"]["amplitude"]["levels"] == 4
