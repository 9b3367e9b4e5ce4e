"""`dvc repro` with every core in use, never more busy threads than cores (issue 20).

`dvc repro` runs one stage at a time, and a training holds one thread (`training.threads`):
on two cores half the machine idled. Here the stages that declare `meta: {parallel: true}`
in dvc.yaml - one training or evaluation each, on `training.threads` threads - run
cores // training.threads at a time, each as `dvc repro --single-item <stage>`; every other
stage (a dataset built by a process pool, a report) runs alone. This is DVC's own
concurrency: DVC releases its repository lock while a stage's command runs, locks each
output apart, and records each stage in dvc.lock as it would under `dvc repro`. Only the
stages `dvc status` reports, and those downstream of them, are scheduled, in DAG order.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from synaudio.errors import UserError

LOGS = Path(".dvc") / "tmp" / "schedule"  # one log per stage run, beside DVC's own state


@dataclass
class Plan:
    """What to run: each stage with the stages it waits for, and which may share the cores."""

    upstream: dict[str, set[str]]
    parallel: set[str]
    order: list[str]  # a topological order (upstream first)


def plan(root: Path, targets: list[str]) -> Plan:
    """The stale stages among `targets` (all when empty) and everything downstream of them."""
    import networkx as nx
    from dvc.repo import Repo

    # Stage addresses are relative to the working directory: name them as `dvc repro` in root does.
    with contextlib.chdir(root), Repo(".") as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        address = {stage: stage.addressing for stage in graph.nodes}
        stale_here = set(repo.status())
    named = {address[stage]: stage for stage in graph.nodes if stage.cmd}
    wanted = set(named)
    if targets:
        wanted = set()
        for target in targets:
            matches = [n for n in named if n == target or n.split("@")[0] == target]
            if not matches:
                raise UserError(f"no stage named {target!r} in dvc.yaml; `dvc stage list` shows them")
            for name in matches:
                wanted |= {name} | {address[s] for s in nx.descendants(graph, named[name]) if s.cmd}
    stale = stale_here & wanted
    stale |= {address[s] for name in stale for s in nx.ancestors(graph, named[name]) if address[s] in wanted}
    order = [address[s] for s in reversed(list(nx.topological_sort(graph))) if address[s] in stale]
    upstream = {
        name: {address[s] for s in graph.successors(named[name]) if address[s] in stale} for name in order
    }
    parallel = {name for name in order if (named[name].meta or {}).get("parallel")}
    return Plan(upstream, parallel, order)


def run(root: Path, plan: Plan, jobs: int) -> None:
    """Run `plan`: parallel stages up to `jobs` at once, the others alone; stop launching at
    the first failure, let the running ones finish, and raise naming the stage and its log."""
    logs = root / LOGS
    logs.mkdir(parents=True, exist_ok=True)
    pending, done, running = list(plan.order), set(), {}
    failed: list[str] = []
    started_all = time.perf_counter()
    while running or (pending and not failed):
        ready = [name for name in pending if plan.upstream[name] <= done] if not failed else []
        exclusive_running = any(name not in plan.parallel for name in running)
        for name in ready:
            if exclusive_running or len(running) >= jobs:
                break
            if name not in plan.parallel and running:
                continue  # an exclusive stage waits until the cores are free
            log = logs / f"{name.replace('@', '_')}.log"
            with open(log, "w") as handle:
                process = subprocess.Popen(
                    [dvc_executable(), "--wait-for-lock", "repro", "--single-item", name],
                    cwd=root, stdout=handle, stderr=subprocess.STDOUT,
                )  # fmt: skip
            running[name] = (process, time.perf_counter(), log)
            pending.remove(name)
            print(f"schedule: started {name}", flush=True)
            exclusive_running = name not in plan.parallel
        time.sleep(0.2)
        for name, (process, started, log) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            if process.returncode:
                failed.append(name)
                print(f"schedule: {name} FAILED (exit {process.returncode}); its output: {log}", flush=True)
                print("".join(log.read_text().splitlines(keepends=True)[-15:]), file=sys.stderr)
            else:
                done.add(name)
                print(f"schedule: finished {name} in {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        raise UserError(
            f"stage(s) {', '.join(failed)} failed; logs in {logs}; fix and re-run (done stages stay)"
        )
    print(
        f"schedule: {len(done)} stage(s) in {time.perf_counter() - started_all:.0f} s, up to {jobs} at once; "
        "dvc.lock records them"
    )


def dvc_executable() -> str:
    """The dvc beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else "dvc"


def run_dvc(root: Path, *args: str) -> str:
    """`dvc <args>` in `root`; its stdout, or a UserError carrying what dvc said."""
    result = subprocess.run([dvc_executable(), *args], cwd=root, capture_output=True, text=True)
    if result.returncode:
        raise UserError(f"dvc {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout
