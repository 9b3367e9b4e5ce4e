"""What a clone of the repository gets: `dvc status` that tells the truth about main.

params.yaml states the scale that was run and dvc.lock records it, so on a fresh clone no
stage whose outputs are committed may show a changed parameter, command, dependency or
output - only outputs that are merely absent (regenerable, not in a clone's cache).
(`make clone-check`, run by .ci/run, walks the README's commands in a clone.)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synaudio.command import cpu_model
from synaudio.studies.synspeech.schema import model_dir
from tests.conftest import BIN, REPO, git


def drift(status: dict) -> dict[str, list[str]]:
    """Per stage, the changes that are not mere absence (of outputs or of their inputs)."""
    found: dict[str, list[str]] = {}
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):  # "always changed" and the like
                found.setdefault(stage, []).append(str(entry))
                continue
            if "changed command" in entry:
                found.setdefault(stage, []).append("command")
            for kind in ("changed deps", "changed outs"):
                for path, why in (entry.get(kind) or {}).items():
                    if isinstance(why, dict):
                        found.setdefault(stage, []).append(f"params {sorted(why)}")
                    elif why not in ("deleted", "not in cache"):
                        found.setdefault(stage, []).append(f"{path} {why}")
    return found


@pytest.fixture(scope="module")
def clone_status(tmp_path_factory: pytest.TempPathFactory) -> dict:
    clone = tmp_path_factory.mktemp("clone") / "synaudio"
    git(REPO, "clone", "-q", str(REPO), str(clone))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run(
        [BIN / "dvc", "status", "--json"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "{}")


def test_dvc_status_on_a_clone_shows_no_drift(clone_status: dict) -> None:
    unexpected = drift(clone_status)
    assert not unexpected, f"params.yaml, code or results drifted from dvc.lock: {unexpected}"


def test_the_drift_check_sees_a_changed_param() -> None:
    status = {
        "train_paper@vae-0": [{"changed deps": {"params.yaml": {"training.epochs": "modified"}}}],
        "features@paper": [{"changed deps": {"artifacts/syntone/paper/dataset": "deleted"}}],
    }
    assert drift(status) == {"train_paper@vae-0": ["params ['training.epochs']"]}


def _model_dirs() -> list[tuple[Path, dict]]:
    """(model folder, evaluation) for every committed SynTone and SynSpeech evaluation of a
    trained model (baselines have none)."""
    found = []
    for path in sorted((REPO / "artifacts" / "syntone").glob("*/eval/*.json")):
        result = json.loads(path.read_text())
        folder = Path(
            "artifacts/syntone", result["protocol"], "models", result["model"], f"seed{result['seed']}"
        )
        found.append((folder, result))
    for path in sorted((REPO / "artifacts" / "speech" / "eval").glob("*.json")):
        result = json.loads(path.read_text())
        if "representation" in result:  # scored from codes: the RAVE study's model folders
            models = {"rave_style": "models", "acids_rave": "acids_models"}[result["model"]]
            found.append((Path("artifacts/rave", result["version"], models, f"seed{result['seed']}"), result))
            continue
        if "model_sha256" in result:  # the level-normalised arm's models live in their own folder
            level = "front_end" in result
            found.append(
                (
                    model_dir(
                        Path("artifacts/speech"), result["version"], result["model"], result["seed"], level
                    ),
                    result,
                )
            )
    return found


def test_the_trained_weights_are_in_git() -> None:
    """Every evaluation of a trained model names the SHA-256 of a model file that git holds."""
    tracked = set(git(REPO, "ls-files", "artifacts").split())
    evaluated = _model_dirs()
    assert {str(folder).split("/")[1] for folder, _ in evaluated} == {"syntone", "speech", "rave"}
    for model, result in evaluated:
        assert f"{model}/model.pt" in tracked, f"{model}/model.pt is not in git"
        assert hashlib.sha256((REPO / model / "model.pt").read_bytes()).hexdigest() == result["model_sha256"]


def test_a_rebuilt_report_matches_in_full_on_its_cpu_model_and_in_its_tables_elsewhere(
    tmp_path: Path,
) -> None:
    """.ci/compare-reports, which clone-check runs after forcing the report stage in a clone."""
    files = {"README.md": "table\n", "reports/syntone/results.md": "| a |\n", "reports/syntone/a.png": "png"}

    def commit(cpu: str) -> None:
        for name, text in {**files, "reports/syntone/machine.json": json.dumps({"cpu": cpu})}.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
        author = ["-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(["git", *author, "commit", "-qm", cpu], cwd=tmp_path, check=True)

    def compare() -> subprocess.CompletedProcess:
        script = REPO / ".ci" / "compare-reports"
        return subprocess.run([sys.executable, script], cwd=tmp_path, capture_output=True, text=True)

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    commit(cpu_model())
    assert compare().returncode == 0
    (tmp_path / "reports/syntone/a.png").write_text("other bits")
    assert "on the CPU model that built them" in compare().stderr  # same CPU model: every byte counts
    commit("Another CPU")
    (tmp_path / "reports/syntone/a.png").write_text("other bits again")
    passed = compare()
    assert passed.returncode == 0 and "1 media files differ" in passed.stdout
    (tmp_path / "reports/syntone/results.md").write_text("| b |\n")
    assert "the tables differ" in compare().stderr
