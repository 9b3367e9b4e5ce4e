"""The shared DVC remote (issue 19): `make push` and `make pull` move what DVC caches -
datasets, features, checkpoints; git carries code, weights and results - to and from one
S3 bucket (or any URL DVC supports), so a second machine or a collaborator's clone gets
the same bytes without regenerating them.

Where it points, first match wins:

* `SYNAUDIO_REMOTE` (e.g. s3://bucket/synaudio): written to .dvc/config.local (never
  committed) as remote `shared`, with `AWS_ENDPOINT_URL` as its endpoint when set (a
  MinIO, Ceph or moto server instead of AWS);
* the default remote of .dvc/config (`dvc remote add -d NAME URL`, committed by a lab).

Credentials come from the usual AWS variables and files; nothing here stores them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from synaudio.errors import UserError
from synaudio.schedule import dvc_executable, run_dvc

SHARED = "shared"  # the remote SYNAUDIO_REMOTE configures


def configure(root: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The remote to use: `shared` from SYNAUDIO_REMOTE, else the configured default."""
    url = environ.get("SYNAUDIO_REMOTE", "").strip()
    if url:
        run_dvc(root, "remote", "add", "--local", "--force", SHARED, url)
        endpoint = environ.get("AWS_ENDPOINT_URL", "").strip()
        if endpoint:
            run_dvc(root, "remote", "modify", "--local", SHARED, "endpointurl", endpoint)
        else:
            run_dvc(root, "remote", "modify", "--local", "--unset", SHARED, "endpointurl")
        return SHARED
    found = subprocess.run([dvc_executable(), "remote", "default"], cwd=root, capture_output=True, text=True)
    default = found.stdout.strip() if found.returncode == 0 else ""  # non-zero: none set
    if not default:
        raise UserError(
            "no DVC remote: set SYNAUDIO_REMOTE=s3://bucket/prefix (and AWS_ENDPOINT_URL for a "
            "non-AWS store), or commit a default with `dvc remote add -d NAME URL`"
        )
    return default


# `dvc status --cloud`: "new" is in the cache only, "deleted" in the remote only
LEFT_BEHIND = {"push": "new", "pull": "deleted"}


def transfer(root: Path, direction: str, jobs: int | None = None) -> str:
    """`dvc push` or `dvc pull` against the remote, then `dvc status --cloud` to check that
    nothing was left behind (outputs never produced are in neither place: not an error).
    Returns the remote's name."""
    remote = configure(root)
    run_dvc(root, direction, "--remote", remote, *(["--jobs", str(jobs)] if jobs else []))
    status = json.loads(run_dvc(root, "status", "--cloud", "--remote", remote, "--json") or "{}")
    behind = sorted(path for path, state in status.items() if state == LEFT_BEHIND[direction])
    if behind:
        raise UserError(
            f"after dvc {direction}, {len(behind)} files differ from remote {remote!r}: {behind[:5]}"
        )
    return remote
