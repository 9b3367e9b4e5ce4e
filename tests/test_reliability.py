"""The archive's reliability contract, one test per promise (README: "What is guaranteed").

Each case was first seen failing on a clone of main (issue 12): a stale checkpoint
resumed by another configuration, results mixed in from files lying around, a foreign
folder deleted, bad parameters accepted or answered with a traceback, MLflow races and
orphaned runs. All run the real CLI on tiny data with a real MLflow backend.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from synaudio.errors import UserError
from synaudio.params import MAX_SEED, Params, flatten, validate
from tests.conftest import BIN, REPO, TINY, git, train_command


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# 1. Resume only from one's own checkpoint (test_study: the fingerprint test), 15. model bytes


def test_model_bytes_do_not_depend_on_where_they_are_written(
    tiny_study, tmp_path: Path, write_params
) -> None:
    tree = copy.deepcopy(TINY)
    tree["tracking"] = {"enabled": False}
    params = write_params(tree)
    plain, odd = tmp_path / "plain", tmp_path / "ödd dir ✓"
    for out in (plain, odd):
        subprocess.run(train_command(tiny_study["corrected"], out, tmp_path / f"{out.name}-ckpt", params),
                       check=True, capture_output=True)  # fmt: skip
    assert (plain / "model.pt").read_bytes() == (odd / "model.pt").read_bytes()


# 2. A combining stage reads the results params.yaml declares, nothing else


def test_aggregate_ignores_stray_results_and_names_missing_ones(
    reproduced: Path, tmp_path: Path, cli
) -> None:
    project = tmp_path / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    evaluations = project / "artifacts" / "syntone" / "corrected" / "eval"
    stray = json.loads((evaluations / "vae-seed0.json").read_text())
    stray["seed"], stray["metrics"]["mig"]["mean"] = 7, 0.999
    (evaluations / "vae-seed7.json").write_text(json.dumps(stray))
    out = tmp_path / "table"
    cli("aggregate", "--artifacts", project / "artifacts" / "syntone", "--out", out, cwd=project, check=True)
    assert (out / "results.csv").read_bytes() == (
        project / "artifacts" / "syntone" / "results.csv"
    ).read_bytes()

    (evaluations / "factor_vae-seed1.json").unlink()
    result = cli("aggregate", "--artifacts", project / "artifacts" / "syntone", "--out", out, cwd=project)
    _one_line_error(result, "factor_vae-seed1.json", "dvc repro evaluate_corrected@factor_vae-1")

    (evaluations / "factor_vae-seed1.json").write_text('{"model": "factor_vae"')
    result = cli("aggregate", "--artifacts", project / "artifacts" / "syntone", "--out", out, cwd=project)
    _one_line_error(result, "not valid JSON", "dvc repro -f evaluate_corrected@factor_vae-1")


# 3. A batch larger than the training split is refused (it would train on nothing)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"speech": {"batch_size": 64}}, "speech.batch_size"),
        ({"training": {"batch_size": 64}}, "training.batch_size"),
    ],
)
def test_a_batch_larger_than_the_training_split_is_refused(override: dict, key: str) -> None:
    tree = copy.deepcopy(TINY)
    for section, values in override.items():
        tree[section] = {**tree[section], **values}
    with pytest.raises(UserError, match=rf"{key}: batch of 64 exceeds the \d+ training clips"):
        validate(tree)


# 5. git.dirty means the code or parameters differ, not that the stage replaced its outputs


def test_git_dirty_ignores_the_stage_outputs_and_sees_a_code_change(reproduced: Path, tmp_path: Path) -> None:
    from synaudio.tracking import git_state

    project = tmp_path / "project"
    git(reproduced, "clone", "-q", str(reproduced), str(project))
    (project / "artifacts" / "syntone" / "paper" / "dataset.json").unlink()  # as DVC does before a run
    (project / "dvc.lock").write_text((project / "dvc.lock").read_text() + "\n")
    summary = project / "artifacts" / "syntone" / "paper" / "dataset.json"
    assert git_state(project, [summary])["git.dirty"] == "false"
    (project / "src" / "synaudio" / "errors.py").write_text("# edited\n")
    assert git_state(project, [summary])["git.dirty"] == "true"


def test_git_dirty_survives_a_lock_caught_mid_write(tmp_path: Path) -> None:
    """Parallel stages rewrite dvc.lock in place; a reader may see it cut after a stage name."""
    from synaudio.tracking import git_state

    git(tmp_path, "init", "-q")
    (tmp_path / "out.json").write_text("{}")
    (tmp_path / "code.py").write_text("")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  a:\n    outs:\n    - path: out.json\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  a:\n")  # cut mid-write
    (tmp_path / "out.json").write_text('{"new": 1}')  # an upstream stage's output, rewritten
    assert git_state(tmp_path)["git.dirty"] == "false"
    (tmp_path / "code.py").write_text("# edited\n")
    assert git_state(tmp_path)["git.dirty"] == "true"


# 6. Never delete what we did not write


def test_an_existing_foreign_folder_is_not_replaced(tmp_path: Path, write_params, cli) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    result = cli("--params", write_params(), "syntone", "--protocol", "paper", "--out", victim)
    _one_line_error(result, "holds files this archive did not write")
    assert (victim / "thesis.tex").read_text() == "years of work" and len(list(victim.iterdir())) == 1


# 7-10. Bad parameters: one line naming the key, before anything is written


BAD_PARAMS = [
    ("", "empty"),
    ("features: {top_db: .inf}\n", "features.top_db"),
    ("features: {top_db: .nan}\n", "features.top_db"),
    ("split: {seed: -1}\n", "split.seed"),
    ("training: {paper_seeds: [-5]}\n", "training.paper_seeds.0"),
    (f"training: {{corrected_seeds: [{MAX_SEED + 1}]}}\n", "training.corrected_seeds.0"),
    ("syntone: {frequency: {start: 440.0, stop: 8000.0, levels: 10000000}}\n", "syntone.frequency.levels"),
    ("training: {latent_dim: 100000000}\n", "training.latent_dim"),
    ("syntone: {duration: 0.01}\n", "syntone.duration"),
]


@pytest.mark.parametrize(("text", "key"), BAD_PARAMS)
def test_bad_parameters_are_refused_in_one_line(tmp_path: Path, cli, text: str, key: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)
    out = tmp_path / "dataset"
    result = cli("--params", params, "syntone", "--protocol", "paper", "--out", out)
    _one_line_error(result, key)
    assert result.stderr.count("error:") == 1 and not out.exists()


@pytest.mark.parametrize("seed", ["-1", str(MAX_SEED + 1), "one"])
def test_a_bad_seed_argument_is_refused(tmp_path: Path, cli, seed: str) -> None:
    result = cli("metrics", tmp_path / "codes.npz", "--seed", seed)
    _one_line_error(result, "--seed")


# 11. One line, not a traceback, for what the user can fix


def test_a_folder_as_params_is_refused(tmp_path: Path, cli) -> None:
    _one_line_error(cli("--params", tmp_path, "params"), "cannot read it as a parameters file")


def test_unwritable_outputs_are_refused_before_any_work(tmp_path: Path, write_params, cli) -> None:
    out = tmp_path / "dataset"  # /proc refuses new files even to root
    result = cli("--params", write_params(), "syntone", "--protocol", "paper", "--out", out,
                 "--summary", "/proc/synaudio/summary.json")  # fmt: skip
    _one_line_error(result, "is not writable")
    assert not out.exists()


def test_ctrl_c_during_training_exits_130_with_a_line(tiny_study, tmp_path: Path, write_params) -> None:
    tree = copy.deepcopy(TINY)
    tree["training"]["epochs"] = 200
    tree["tracking"] = {"enabled": False}
    out, checkpoints = tmp_path / "model", tmp_path / "ckpt"
    command = train_command(tiny_study["corrected"], out, checkpoints, write_params(tree))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (checkpoints / "last.ckpt").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted; no partial output was kept" in stderr, stderr
    assert not out.exists()


# 12-13. MLflow: parallel first use, orphaned runs, names that tell runs apart


def test_parallel_first_use_of_a_new_database_is_safe(tmp_path: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}"}
    starts = [subprocess.Popen([BIN / "synaudio", "tracking-init"], env=env, cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in starts]
    assert [code for code, _ in results] == [0, 0, 0], results


def test_a_killed_stage_leaves_no_run_marked_running(
    tiny_study, tmp_path: Path, write_params, tracking_uri: str
) -> None:
    tree = copy.deepcopy(TINY)
    tree["training"]["epochs"] = 200
    tree["tracking"] = {"experiment": "orphans"}
    params = write_params(tree)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    command = train_command(tiny_study["corrected"], tmp_path / "m", tmp_path / "c", params)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "c" / "last.ckpt").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    process.wait()
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("orphans").experiment_id
    [killed] = client.search_runs([experiment])
    assert killed.info.status == "RUNNING"  # nobody could say otherwise yet
    tree["training"]["epochs"] = 1
    write_params(tree)
    subprocess.run(train_command(tiny_study["corrected"], tmp_path / "m2", tmp_path / "c2", params), env=env,
                   check=True, capture_output=True)  # fmt: skip
    runs = {run.info.run_id: run for run in client.search_runs([experiment])}
    assert runs[killed.info.run_id].info.status == "KILLED"
    assert {run.info.run_name for run in runs.values()} == {"train factor_vae/corrected/seed3"}


# The parameter fuzz: random values for every key, valid or not - never a traceback


def _mutations(value: Any, rng: random.Random) -> list[Any]:
    pool: list[Any] = [
        None,
        "text",
        -1,
        0,
        1,
        2**40,
        -1e9,
        0.5,
        1e12,
        float("inf"),
        float("nan"),
        [],
        {},
        True,
    ]
    if isinstance(value, bool):
        pool += [not value]
    elif isinstance(value, int):
        pool += [value + 1, value * 2, -value, value - 1]
    elif isinstance(value, float):
        pool += [value * 10, value / 10, -value]
    elif isinstance(value, list):
        pool += [value[:1], value * 2, [-1], ["x"]]
    return [rng.choice(pool)]


def test_parameter_fuzz_gives_a_params_or_one_clear_error() -> None:
    rng = random.Random(12)
    flat = flatten(Params().model_dump())
    keys = sorted(flat)
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(300):
        tree = yaml.safe_load(yaml.safe_dump(Params().model_dump()))
        for key in rng.sample(keys, rng.choice([1, 1, 2, 3])):
            node, *path, leaf = [tree, *key.split(".")]
            for part in path:
                node = node[part]
            node[leaf] = _mutations(flat[key], rng)[0]
        try:
            validate(yaml.safe_load(yaml.safe_dump(tree, allow_unicode=True)))
            outcomes["valid"] += 1
        except UserError as error:
            assert all(line.startswith("params.yaml: ") for line in str(error).splitlines()), str(error)
            outcomes["refused"] += 1
    assert outcomes["valid"] > 20 and outcomes["refused"] > 150, outcomes
