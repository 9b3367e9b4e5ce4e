"""`synaudio sweep`: a grid queued as DVC experiments and drained by two workers, for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synaudio.errors import UserError
from synaudio.sweep import grid
from tests.conftest import TINY, copy_project, dvc


def test_the_grid_is_every_combination_in_order() -> None:
    assert grid(["a=1,2", "b=x,y"]) == [["a=1", "b=x"], ["a=1", "b=y"], ["a=2", "b=x"], ["a=2", "b=y"]]
    with pytest.raises(UserError, match="key=value1,value2"):
        grid(["a"])


def test_a_three_point_sweep_on_two_workers(tmp_path: Path, cli, tracking_uri: str) -> None:
    project = copy_project(tmp_path / "project", TINY)
    (project / "params.yaml").write_text((project / "params.yaml").read_text() + "\n")
    refused = cli("sweep", "syntone@corrected", "--set", "syntone.frequency.levels=3,4", cwd=project)
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr
    (project / "params.yaml").write_text((project / "params.yaml").read_text().rstrip("\n") + "\n")
    result = cli("sweep", "syntone@corrected", "--set", "syntone.frequency.levels=3,4,5", "--jobs", "2",
                 "--name", "levels", "--timeout", "600", cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 experiments (levels-0, levels-1, levels-2) done by 2 workers" in result.stdout
    shown = json.loads(dvc(project, "exp", "show", "--json", tracking_uri=tracking_uri).stdout)
    clips = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            run = experiment["revs"][0]
            summary = run["data"]["metrics"]["artifacts/syntone/corrected/dataset.json"]["data"]
            clips[run["name"]] = summary["clips"]
    assert clips == {"levels-0": 4 * 3 * 3, "levels-1": 4 * 3 * 4, "levels-2": 4 * 3 * 5}
    again = cli("sweep", "syntone@corrected", "--set", "syntone.frequency.levels=6", "--name", "levels",
                cwd=project)  # fmt: skip
    assert again.returncode == 2 and "exist already" in again.stderr
