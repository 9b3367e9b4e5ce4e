"""Past one machine (issue 19), each engine real and on 127.0.0.1: the shared DVC remote on
an S3 store (moto's server) and the shared MLflow server (PostgreSQL, S3 artifacts), each
started and stopped by the test that needs it."""

from __future__ import annotations

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
from moto.server import ThreadedMotoServer

from synaudio import server
from tests.conftest import BIN, git, mlflow_rest, train_command

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
