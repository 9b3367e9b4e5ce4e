"""Past one machine (issue 19), each engine real and on 127.0.0.1: the shared DVC remote on
an S3 store (moto's server), the shared MLflow server (PostgreSQL, S3 artifacts), each
started and stopped by the test that needs it, and Lightning DDP training over two CPU
processes (gloo)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import torch
from moto.server import ThreadedMotoServer

from synaudio import server
from tests.conftest import BIN, TINY, git, kill_after_first_checkpoint, mlflow_rest, train_command

BUCKET = "synaudio-test"


@pytest.fixture
def s3_store() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free loopback port with one bucket; the environment that
    points DVC (and boto) at it, dummy credentials included."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    try:
        yield env
    finally:
        server.stop()


def _synaudio(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    return subprocess.run([str(BIN / "synaudio"), *args], cwd=cwd, env=full, capture_output=True, text=True)


def _cached_files(project: Path) -> dict[str, str]:
    """SHA-256 of every file under the DVC-cached outputs (those git ignores) of `project`."""
    ignored = git(project, "ls-files", "--others", "--ignored", "--exclude-standard", "--", "artifacts")
    return {
        path: hashlib.sha256((project / path).read_bytes()).hexdigest()
        for path in ignored.splitlines()
        if "/checkpoints/" not in path and not Path(path).name.startswith(".")
    }


@pytest.mark.timeout(600)
def test_push_then_pull_into_a_fresh_clone_gives_the_same_bytes(
    reproduced: Path, s3_store: dict[str, str], tmp_path: Path
) -> None:
    """The tiny pipeline's datasets, features and checkpoints go to S3 from one project
    and come back into a clone that never ran a stage: byte-identical, nothing left behind."""
    env = {**s3_store, "SYNAUDIO_REMOTE": f"s3://{BUCKET}/synaudio"}
    pushed = _synaudio(reproduced, env, "remote", "push")
    (reproduced / ".dvc" / "config.local").unlink()  # the shared project as it was
    assert pushed.returncode == 0, pushed.stderr
    assert "nothing left behind" in pushed.stdout
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(reproduced), str(clone))
    assert not _cached_files(clone)
    pulled = _synaudio(clone, env, "remote", "pull")
    assert pulled.returncode == 0, pulled.stderr
    expected = _cached_files(reproduced)
    assert any("/dataset/" in p for p in expected) and any("/features/" in p for p in expected)
    assert _cached_files(clone) == expected
    status = subprocess.run([str(BIN / "dvc"), "status", "--json"], cwd=clone, capture_output=True, text=True)
    assert status.returncode == 0 and status.stdout.strip() == "{}", status.stdout


def test_without_a_remote_the_error_says_how_to_set_one(tmp_path: Path) -> None:
    subprocess.run([str(BIN / "dvc"), "init", "-q", "--no-scm"], cwd=tmp_path, check=True)
    result = _synaudio(tmp_path, {"SYNAUDIO_REMOTE": ""}, "remote", "push")
    assert result.returncode == 2
    assert "no DVC remote: set SYNAUDIO_REMOTE=s3://bucket/prefix" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


@pytest.mark.timeout(600)
def test_two_trainings_at_once_log_to_the_shared_server(
    tiny_study: dict[str, Path], write_params, tmp_path: Path
) -> None:
    """`synaudio server start` (PostgreSQL + moto + mlflow server); two tiny trainings side by
    side log to it; both runs, their metrics and their training.json come back over REST."""
    state = tmp_path / "server"
    started = _synaudio(
        tmp_path, {}, "server", "start", "--state", str(state), "--port", str(server.free_port())
    )
    assert started.returncode == 0, started.stderr
    try:
        uri = server.read(state)["tracking_uri"]
        params = write_params()
        processes = []
        for seed in (3, 4):
            command = train_command(
                tiny_study["corrected"], tmp_path / f"m{seed}", tmp_path / f"c{seed}", params
            )
            command[command.index("--seed") + 1] = str(seed)
            env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}:{os.environ['PATH']}"}
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
            processes.append(subprocess.Popen(command, env=env, **pipes))
        for process in processes:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr
        experiment = mlflow_rest(uri, "experiments/get-by-name?experiment_name=tests")["experiment"]
        runs = mlflow_rest(uri, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        assert len(runs) == 2 and {r["info"]["status"] for r in runs} == {"FINISHED"}
        by_id = {run["info"]["run_id"]: run for run in runs}
        for seed in (3, 4):
            local = json.loads((tmp_path / f"m{seed}" / "training.json").read_text())
            run = by_id[local["provenance"]["mlflow_run_id"]]  # each training's own run
            assert any(m["key"].startswith("train/") for m in run["data"]["metrics"])
            listed = mlflow_rest(uri, f"artifacts/list?run_id={run['info']['run_id']}")
            assert "training.json" in {f["path"] for f in listed["files"]}
            path = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts/training.json"
            with urllib.request.urlopen(
                f"{uri}/api/2.0/mlflow-artifacts/artifacts/{path}", timeout=30
            ) as got:
                assert json.loads(got.read())["history"] == local["history"]
    finally:
        _synaudio(tmp_path, {}, "server", "stop", "--state", str(state))
        shutil.rmtree(server.cluster(state), ignore_errors=True)  # this test's database


# --- Lightning DDP: two processes on this machine's CPU (gloo) ---------------------------


def _ddp_run(study: Path, folder: Path, write_params, *, devices: int, model: str, epochs: int) -> list[str]:
    """The tiny SynTone training of `model` on `devices` processes, untracked, into `folder`."""
    tree = copy.deepcopy(TINY)
    tree["training"] |= {"devices": devices, "epochs": epochs}
    tree["tracking"] = {"enabled": False}
    params = write_params(tree, folder.parent / f"{folder.name}.yaml")
    command = train_command(study, folder / "model", folder / "checkpoints", params)
    return [*command[: command.index("--model") + 1], model, *command[command.index("--model") + 2 :]]


def _ddp_env() -> dict[str, str]:
    return {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(server.free_port())}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "model" / "model.pt", weights_only=True)


def _ddp_step(rank: int, port: int, out: str) -> None:
    """One process of two: its share of the first batch, a mean-squared loss, the gradient
    averaged over both processes - as synaudio.training does it."""
    from torch import distributed as dist

    from synaudio.training import EpochBatches, average_gradients

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, model = _regression()
        rows = next(EpochBatches(16, 8, seed=3, shares=2).batches(rank))
        (model(x[rows]) ** 2).mean().backward()
        average_gradients(model)
        torch.save({name: p.grad for name, p in model.named_parameters()}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _regression() -> tuple[torch.Tensor, torch.nn.Module]:
    torch.manual_seed(0)
    return torch.randn(16, 5, dtype=torch.float64), torch.nn.Linear(5, 3).double()


def test_ddp_shards_each_batch_and_averages_to_the_whole_batch_gradient(tmp_path: Path) -> None:
    """Two gloo processes, each on its half of a batch of 8: their averaged gradient is the
    one-process gradient of the whole batch, and the halves are the batch."""
    import torch.multiprocessing as mp

    from synaudio.training import EpochBatches

    whole = next(iter(EpochBatches(16, 8, seed=3)))
    halves = [next(EpochBatches(16, 8, seed=3, shares=2).batches(rank)) for rank in (0, 1)]
    assert halves[0] + halves[1] == whole
    x, model = _regression()
    (model(x[whole]) ** 2).mean().backward()
    mp.start_processes(_ddp_step, args=(server.free_port(), str(tmp_path)), nprocs=2, start_method="spawn")
    for rank in (0, 1):
        grads = torch.load(tmp_path / f"rank{rank}.pt")
        for name, p in model.named_parameters():
            assert torch.allclose(grads[name], p.grad, rtol=1e-12, atol=1e-14), (rank, name)


def test_two_ddp_processes_train_one_model(tiny_study, tmp_path: Path, write_params) -> None:
    """`synaudio train` with training.devices 2: Lightning starts the second process, both
    end with the same weights (the run checks and training.json records it), and only the
    first writes the model - once."""
    folder = tmp_path / "devices2"
    command = _ddp_run(tiny_study["corrected"], folder, write_params, devices=2, model="vae", epochs=2)
    result = subprocess.run(command, env=_ddp_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((folder / "model" / "training.json").read_text())
    assert summary["ddp"] == {"devices": 2, "num_nodes": 1, "weight_divergence": 0.0}
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints", "model"]
    assert result.stdout.count("-> ") == 1  # one summary line: the worker reports nothing
    odd = _ddp_run(tiny_study["corrected"], tmp_path / "odd", write_params, devices=3, model="vae", epochs=1)
    bad = subprocess.run(odd, env=_ddp_env(), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "does not split evenly over 3 DDP processes" in bad.stderr


def test_a_killed_ddp_run_resumes_to_the_uninterrupted_weights(tiny_study, tmp_path, write_params) -> None:
    """FactorVAE (two backward passes through one forward) on two processes: killed with its
    worker after the first checkpoint and run again, it resumes and ends bit for bit where
    an uninterrupted two-process run ends."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        command = _ddp_run(tiny_study["corrected"], folder, write_params, devices=2, model="factor_vae",
                           epochs=4)  # fmt: skip
        if folder is killed:
            kill_after_first_checkpoint(command, folder / "checkpoints" / "last.ckpt", 300, _ddp_env())
            assert not (folder / "model").exists()
        result = subprocess.run(command, env=_ddp_env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads((killed / "model" / "training.json").read_text())
    assert resumed["resumed_from_epoch"] >= 1 and resumed["ddp"]["weight_divergence"] == 0.0
    a, b = _weights(whole), _weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
