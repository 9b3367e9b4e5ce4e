"""A shared MLflow tracking server on loopback (issue 19, `make server`): PostgreSQL as the
backend store, an S3 store (moto's server) for artifacts, `mlflow server` in front of
both - the shape a lab runs with its own PostgreSQL and S3/GCS (README "Running on more
than one machine"). Every stage logs to it when MLFLOW_TRACKING_URI names it.

Everything lives in one state folder (default build/server): the database cluster, the
logs, and server.json (ports, process ids, URIs) that `stop` and `status` read. PostgreSQL
refuses to run as root, so as root its commands run as the `postgres` user (runuser), and
its cluster lives where that user can reach it: /var/tmp/synaudio-postgres/<the state
folder's hash> (a root-owned checkout's folders may be closed to other users).
SQLAlchemy maps a bare postgresql:// to psycopg 3, which the lock does not carry: the
backend URI always names psycopg2.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from synaudio.atomic import atomic_write_text, pid_alive
from synaudio.errors import UserError

STATE = "server.json"
BUCKET = "mlflow"
DATABASE = "mlflow"
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "synaudio", "AWS_SECRET_ACCESS_KEY": "synaudio"}  # moto takes any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise UserError("PostgreSQL is not installed (no pg_ctl); `make install` installs the Debian package")


def cluster(state: Path) -> Path:
    """The PostgreSQL cluster's folder: in the state folder, or as root one the postgres
    user can reach (named after the state folder, so a restart finds its data)."""
    if os.geteuid() != 0:
        return state / "pg"
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:16]
    return Path("/var/tmp/synaudio-postgres") / digest


def _as_postgres(command: list[str], pg_dir: Path) -> list[str]:
    """Root may not run PostgreSQL: hand its commands and its folder to the postgres user."""
    if os.geteuid() != 0:
        return command
    subprocess.run(["chown", "-R", "postgres:", str(pg_dir)], check=True)
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise UserError(f"{what} failed: {(result.stderr or result.stdout).strip()}")


def _wait(url: str, process: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"{what} exited (code {process.returncode}); its log: {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise UserError(f"{what} did not answer {url} within {timeout:.0f} s; its log: {log}")


def _background(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def start(state: Path, port: int = 5001, timeout: float = 120) -> dict[str, Any]:
    """Start PostgreSQL, the S3 store and the MLflow server; return what server.json holds."""
    if (state / STATE).exists() and status(state)["running"]:
        raise UserError(f"a server already runs from {state} ({read(state)['tracking_uri']}); stop it first")
    state.mkdir(parents=True, exist_ok=True)
    pg_bin, pg_dir = _postgres_bin(), cluster(state)
    pg_port, s3_port = free_port(), free_port()
    if not (pg_dir / "PG_VERSION").exists():
        pg_dir.mkdir(parents=True, exist_ok=True)
        initdb = [str(pg_bin / "initdb"), "-D", str(pg_dir), "-A", "trust", "-U", "postgres"]
        _run(_as_postgres(initdb, pg_dir), "initdb")
    pg_options = f"-p {pg_port} -k {pg_dir} -c listen_addresses=127.0.0.1"
    _run(_as_postgres([str(pg_bin / "pg_ctl"), "-D", str(pg_dir), "-o", pg_options, "-l",
                       str(pg_dir / "postgres.log"), "-w", "start"], pg_dir), "PostgreSQL")  # fmt: skip
    backend = f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/{DATABASE}"
    exists = subprocess.run(
        [str(pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if exists != "1":
        _run([str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", DATABASE],
             "createdb")  # fmt: skip
    env = {**os.environ, **DUMMY_KEYS, "AWS_DEFAULT_REGION": "us-east-1"}
    s3_log = state / "s3.log"
    s3 = _background(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], s3_log, env
    )
    s3_url = f"http://127.0.0.1:{s3_port}"
    _wait(f"{s3_url}/moto-api/", s3, "the S3 store (moto)", s3_log, timeout)
    request = urllib.request.Request(f"{s3_url}/{BUCKET}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()  # the artifact bucket
    mlflow_log = state / "mlflow.log"
    mlflow = _background(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
         "--artifacts-destination", f"s3://{BUCKET}", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        mlflow_log, {**env, "MLFLOW_S3_ENDPOINT_URL": s3_url},
    )  # fmt: skip
    tracking_uri = f"http://127.0.0.1:{port}"
    record = {
        "tracking_uri": tracking_uri, "backend_store_uri": backend, "artifacts": f"s3://{BUCKET}",
        "s3_endpoint": s3_url, "postgres": {"bin": str(pg_bin), "data": str(pg_dir), "port": pg_port},
        "pids": {"mlflow": mlflow.pid, "s3": s3.pid},
    }  # fmt: skip
    atomic_write_text(state / STATE, json.dumps(record, indent=2) + "\n")
    try:
        _wait(f"{tracking_uri}/health", mlflow, "mlflow server", mlflow_log, timeout)
    except UserError:
        stop(state)
        raise
    return record


def read(state: Path) -> dict[str, Any]:
    try:
        return json.loads((state / STATE).read_text())
    except FileNotFoundError:
        raise UserError(
            f"no server was started from {state} (no {STATE}); `make server` starts one"
        ) from None


def status(state: Path) -> dict[str, Any]:
    record = read(state)
    alive = {name: pid_alive(pid) for name, pid in record["pids"].items()}
    return {**record, "alive": alive, "running": all(alive.values())}


def stop(state: Path) -> None:
    """Stop the MLflow server, the S3 store (its objects are in memory: gone) and PostgreSQL
    (its data stays in the state folder for the next start)."""
    record = read(state)
    for pid in record["pids"].values():
        if pid_alive(pid):
            os.killpg(pid, signal.SIGTERM)
    postgres = record["postgres"]
    subprocess.run(
        _as_postgres([str(Path(postgres["bin"]) / "pg_ctl"), "-D", postgres["data"], "-m", "fast", "-w",
                      "stop"], Path(postgres["data"])),
        capture_output=True,
    )  # fmt: skip
    (state / STATE).unlink()
