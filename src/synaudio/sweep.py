"""A parameter grid as DVC experiments on DVC's own task queue (issue 19): each grid point
queued with `dvc exp run --queue -S key=value`, drained by `dvc queue start -j N` workers,
compared with `dvc exp show` (and, run by run, in MLflow: every stage logs there).

The queue's known pitfalls, and what this driver does about them:

* queued experiments run the last commit's pipeline with the -S values on top, so an
  uncommitted dvc.yaml, params or source file would silently not be what runs: refused;
* workers can exit while tasks are still queued (dvc #10562, #10398): the driver polls the
  queue and starts workers again until nothing is queued or running;
* `dvc queue stop` can put finished tasks back in the queue (dvc-task #61): never called;
* a failed task is reported with its name and `dvc queue logs`, and the sweep fails.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

from synaudio.errors import UserError
from synaudio.schedule import run_dvc

ACTIVE = ("Queued", "Running")


def grid(assignments: list[str]) -> list[list[str]]:
    """["a=1,2", "b=x"] -> [["a=1", "b=x"], ["a=2", "b=x"]]: every combination, in order."""
    axes = []
    for assignment in assignments:
        key, sep, values = assignment.partition("=")
        if not sep or not key or not values:
            raise UserError(f"--set {assignment!r}: write a params.yaml key=value1,value2 (ssl.lr=1e-3,3e-3)")
        axes.append([f"{key}={value}" for value in values.split(",")])
    return [list(point) for point in itertools.product(*axes)]


def committed(root: Path) -> None:
    """Queued experiments run the last commit: refuse uncommitted changes to what they run."""
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "dvc.yaml", "params.yaml", "src"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if changed.strip():
        raise UserError(
            "uncommitted changes to the pipeline (dvc.yaml, params.yaml or src/): queued experiments run "
            f"the last commit, so commit them first:\n{changed.rstrip()}"
        )


def queue_status(root: Path) -> dict[str, str]:
    """{experiment name: status} of this repository's queue (DVC's own API)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {entry["name"]: entry["status"] for entry in repo.experiments.celery_queue.status()}


def drain(root: Path, names: list[str], jobs: int, timeout: float, poll: float = 2.0) -> dict[str, str]:
    """Run workers until none of `names` is queued or running; their final statuses."""
    deadline = time.monotonic() + timeout
    run_dvc(root, "queue", "start", "-j", str(jobs))
    while True:
        status = {name: state for name, state in queue_status(root).items() if name in names}
        active = [name for name, state in status.items() if state in ACTIVE]
        if not active:
            return status
        if time.monotonic() > deadline:
            raise UserError(f"sweep: {len(active)} experiments still queued or running after {timeout:.0f} s")
        if all(status[name] == "Queued" for name in active):
            run_dvc(root, "queue", "start", "-j", str(jobs))  # the workers left with work queued
        time.sleep(poll)


def sweep(
    root: Path, assignments: list[str], *, jobs: int, prefix: str, targets: list[str], timeout: float
) -> dict[str, str]:
    """Queue the grid (experiments named <prefix>-<k>) and drain it; {name: status}."""
    committed(root)
    points = grid(assignments)
    names = [f"{prefix}-{k}" for k in range(len(points))]
    taken = set(queue_status(root)) | set(run_dvc(root, "exp", "list", "--name-only").split())
    clash = sorted(taken & set(names))
    if clash:
        raise UserError(f"experiments {clash} exist already: choose another --name or `dvc exp remove` them")
    for name, point in zip(names, points, strict=True):
        run_dvc(root, "exp", "run", "--queue", "--name", name, *(f"-S{value}" for value in point), *targets)
    status = drain(root, names, jobs, timeout)
    failed = sorted(name for name, state in status.items() if state != "Success")
    if failed:
        raise UserError(
            f"sweep: {len(failed)} of {len(names)} experiments did not succeed ({', '.join(failed)}); "
            f"see `dvc queue logs <name>`"
        )
    return status
