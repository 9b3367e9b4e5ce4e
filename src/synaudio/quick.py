"""`make quick`: every stage on params.quick.yaml's reduced grid, beside the workspace.

The run happens in a git worktree of the checkout (``build/quick/work``) holding this
commit plus the workspace's uncommitted and untracked (not ignored) files, with the
overrides merged into its params.yaml and no dvc.lock, scheduled by `synaudio schedule`
(trainings and evaluations side by side). The workspace, its params.yaml and dvc.lock are
untouched; DVC's cache is the checkout's own (outputs cached, identical re-runs restored
from DVC's run cache) and MLflow logs into the checkout's database.

Why not `dvc exp run --temp` (the earlier path): it runs stages one at a time and rewrites
the copied dvc.lock - every stage of the committed scale, ~13,600 lines, ~2 s to parse and
dump - after each stage. Measured on two cores from the same commit: 614 s that way,
240 s this way, with identical reports apart from run ids and timings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from synaudio import schedule
from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError
from synaudio.params import Params, load_params, load_yaml, with_overrides
from synaudio.tracking import tracking_uri

COPIED = ("reports", "README.md")  # the run's report, copied next to the worktree when it was made
REPORT_STAGES = {"report", "speech_report"}


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, check=True)
    except FileNotFoundError:
        raise UserError("make quick needs git (Debian: apt-get install git)") from None
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip()
        raise UserError(f"git {' '.join(args)} failed in {root}: {message}") from None
    return result.stdout


def _remove_previous(root: Path, out: Path) -> None:
    """Drop the previous quick run: its worktree (unregistered from git), then `out`."""
    work = out / "work"
    if (work / ".git").is_file():
        subprocess.run(["git", "worktree", "remove", "--force", str(work)], cwd=root, capture_output=True)
    shutil.rmtree(out, ignore_errors=True)
    _git(root, "worktree", "prune")


def _carry_workspace(root: Path, work: Path) -> int:
    """Apply the workspace's uncommitted changes to tracked files and copy its untracked,
    not ignored ones, as `dvc exp run` would: a quick run tests the code as it stands.
    Returns how many files differ from the commit."""
    diff = _git(root, "diff", "--binary", "HEAD")
    if diff:
        _git(work, "apply", "--whitespace=nowarn", stdin=diff)
    listed = _git(root, "ls-files", "--others", "--exclude-standard", "-z").decode()
    untracked = [path for path in listed.split("\0") if path]
    for relative in untracked:
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, work / relative)
    changed = _git(root, "diff", "--name-only", "-z", "HEAD").decode().split("\0")
    return len([p for p in changed if p]) + len(untracked)


def quick_params(params_path: Path, overrides_path: Path) -> Params:
    """The parameters file with the overrides merged, validated (before anything is
    written, so a bad overrides file leaves the previous quick run in place)."""
    return with_overrides(load_params(params_path), load_yaml(overrides_path), str(overrides_path))


def prepare(root: Path, out: Path, params: Params) -> tuple[Path, int]:
    """A fresh worktree under `out` ready to reproduce on `params`; returns it and how many
    files of the workspace differ from the commit."""
    _git(root, "rev-parse", "--verify", "HEAD")  # a checkout with a commit, or a clear error
    _remove_previous(root, out)
    work = out / "work"
    _git(root, "worktree", "add", "--detach", "--quiet", str(work), "HEAD")
    changed = _carry_workspace(root, work)
    # every key spelled out, as in the repository's params.yaml (DVC reads it literally)
    atomic_write_text(work / "params.yaml", yaml.safe_dump(params.model_dump(), sort_keys=False))
    (work / "dvc.lock").unlink(missing_ok=True)  # the committed scale's record: every stage re-runs anyway
    cache = (root / ".dvc" / "cache").resolve()
    subprocess.run([schedule.dvc_executable(), "cache", "dir", "--local", str(cache)], cwd=work, check=True)
    return work, changed


def run(root: Path, out: Path, params: Params, stages: list[str], jobs: int) -> None:
    """Reproduce `stages` (all when empty) in a worktree on `params`, `jobs` at once."""
    started = time.perf_counter()
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri()  # the checkout's database, not one in the worktree
    work, changed = prepare(root, out, params)
    print(f"quick: worktree {work} (HEAD + {changed} changed file(s)), overrides applied, {jobs} at once")
    plan = schedule.plan(work, stages)
    schedule.run(work, plan, jobs)
    copied = []
    for name in COPIED if REPORT_STAGES & set(plan.order) else ():
        source = work / name
        if source.is_dir():
            shutil.copytree(source, out / name)
            copied.append(f"{out / name}/")
        elif source.is_file():
            shutil.copy2(source, out / name)
            copied.append(str(out / name))
    print(
        f"quick: {len(plan.order)} stage(s) in {time.perf_counter() - started:.0f} s; report copied to "
        f"{', '.join(copied) or 'nowhere (no report stage ran)'}; the run itself (params.yaml, dvc.lock, "
        f"artifacts/) stays in {work}, its MLflow runs in the checkout's database"
    )
