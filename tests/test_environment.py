"""The front door: pinned environment, Makefile, Dockerfile, CI and README agree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

from tests.conftest import BIN, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
MAKEFILE = (REPO / "Makefile").read_text()
README = (REPO / "README.md").read_text()


def test_doctor_loads_torch_and_torchaudio_and_computes_a_mel_spectrogram() -> None:
    result = subprocess.run([BIN / "synaudio", "doctor"], capture_output=True, text=True, check=True)
    assert "torch 2.14.1" in result.stdout and "torchaudio 2.11.0" in result.stdout
    assert "(mel 128x32)" in result.stdout


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the CPU pin applies to x86-64")
@pytest.mark.parametrize(
    ("isa", "kernels"),
    [("avx2", ["avx2", "COMPATIBLE", "Haswell"]), ("avx512", ["avx512", "COMPATIBLE", "SkylakeX"])],
)
def test_importing_synaudio_pins_every_blas_kernel(isa: str, kernels: list[str]) -> None:
    """OpenBLAS (numpy, scipy, scikit-learn) included: it picks its kernel by CPU otherwise.
    Both settings are checked, so the pin is seen to act whatever this machine would pick;
    MKL takes its COMPATIBLE branch under either (the only one that holds on AMD CPUs too)."""
    code = (
        "import synaudio, numpy, os; from threadpoolctl import threadpool_info; "
        "print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'], *sorted({i.get('architecture') "
        "for i in threadpool_info() if i['internal_api'] == 'openblas'}))"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "MKL_CBWR")
    }
    env["SYNAUDIO_CPU_ISA"] = isa
    result = subprocess.run([BIN / "python", "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.split() == kernels


def test_every_installed_package_is_pinned_in_the_lock() -> None:
    lock = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all(re.fullmatch(r"[\w.+-]+", version) for version in lock.values())
    assert lock["torch"] == "2.14.1" and lock["torchaudio"] == "2.11.0"
    frozen = subprocess.run(
        [BIN / "python", "-m", "pip", "freeze", "--all", "--exclude-editable"], capture_output=True, text=True
    ).stdout.splitlines()
    installed = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1] for line in frozen if "==" in line
    }
    installed.pop("pip")
    assert installed == lock, "the venv drifted from requirements.lock: run `make install` (or `make lock`)"


def test_make_help_is_the_default_and_lists_every_target() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    declared = re.findall(r"^([a-z][a-z-]*):.*?## ", MAKEFILE, flags=re.M)
    phony = set(
        re.search(r"^\.PHONY:(.*?)(?<!\\)\n", MAKEFILE, flags=re.M | re.S).group(1).replace("\\", "").split()
    )
    assert set(declared) == phony
    for target in ("install", "test", "all", "quick", "ui", "bench", "docker-build", "docker-run", "lint"):
        assert re.search(rf"^\s+\S*{target}\S*\s+\S", result, flags=re.M), target


def make_dry_run(*arguments: str, check: bool = True) -> str:
    """The commands `make <arguments>` would run, in a user's environment (also when the
    tests themselves run under make, which exports its own variables); stdout, or stderr
    when `check` is off and make fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=check,
    )
    return result.stdout if result.returncode == 0 else result.stderr


def test_install_is_a_no_op_once_done() -> None:
    assert "pip install" not in make_dry_run("install")


def test_install_compares_content_not_modification_times() -> None:
    """A checkout mounted into the image (or freshly cloned) has newer mtimes than the
    stamps; with unchanged content nothing is installed (issue 21)."""
    later = time.time() + 3600
    saved = {name: (REPO / name).stat() for name in ("requirements.lock", "pyproject.toml")}
    try:
        for name in saved:
            os.utime(REPO / name, (later, later))
        assert "pip install" not in make_dry_run("install")
    finally:
        for name, stat in saved.items():
            os.utime(REPO / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_ui_serves_the_project_database_on_loopback() -> None:
    command = make_dry_run("ui").strip().splitlines()[-1]
    assert "--host 127.0.0.1" in command
    assert f"--backend-store-uri sqlite:///{REPO}/mlruns/mlflow.db " in command


def test_hadolint_passes() -> None:
    result = subprocess.run([BIN / "hadolint", REPO / "Dockerfile"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_installs_via_make_and_runs_unprivileged() -> None:
    assert re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.M) == ["${BASE}"]
    (base,) = re.findall(r"^ARG BASE=(\S+)$", DOCKERFILE, flags=re.M)
    assert re.fullmatch(r"docker\.io/library/python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    assert re.search(r"^ \&\& make install \\$", DOCKERFILE, flags=re.M)
    assert "--mount=type=secret,id=pipconf" in DOCKERFILE  # package access: secrets, nothing baked in
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, flags=re.M)
    assert users == ["${UID}:${GID}"]
    assert re.search(r"^ARG UID=(\d+)$", DOCKERFILE, flags=re.M).group(1) != "0"
    # HOME writable by any UID (issue 12, case 14: a run as another UID left HOME at /)
    for variable in ("NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "HOME=/tmp"):
        assert variable in DOCKERFILE
    copied = {
        part for line in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, flags=re.M) for part in line.split()
    }
    assert {"requirements.lock", "Makefile", "pyproject.toml"} <= copied


def one_line(commands: str) -> str:
    """A dry run's continued lines joined, runs of spaces collapsed."""
    return " ".join(commands.replace("\\\n", " ").split())


def test_docker_targets_run_as_the_host_user_on_every_gpu_with_either_engine() -> None:
    uid, gid = os.getuid(), os.getgid()
    assert f"--build-arg UID={uid} --build-arg GID={gid}" in one_line(make_dry_run("docker-build"))
    docker = one_line(make_dry_run("docker-run", "ENGINE=docker"))
    assert docker.startswith("docker run") and "--gpus all" in docker and f"--user {uid}:{gid}" in docker
    assert docker.rstrip().endswith("make all")
    podman = one_line(make_dry_run("docker-run", "ENGINE=podman", "TARGET=quick"))
    assert podman.startswith("podman run") and "--device nvidia.com/gpu=all" in podman
    assert podman.rstrip().endswith("make quick")
    cpu_only = one_line(make_dry_run("docker-run", "ENGINE=podman", "GPUS="))
    assert "gpu" not in cpu_only
    secrets = one_line(
        make_dry_run("docker-build", "ENGINE=podman", "PIP_CONF=pip.conf", "CA_BUNDLE=/etc/ca.pem")
    )
    assert (
        f"--secret id=pipconf,src={REPO}/pip.conf" in secrets
        and "--secret id=cacert,src=/etc/ca.pem" in secrets
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    (marked,) = re.findall(r"<!-- test-command: (.*?) -->", README)
    assert marked == "make test"
    assert f"```\n{marked}\n```" in README, "the README must show the test command it declares"
    ci = (REPO / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-2:] == ["make test", "make clone-check"]  # then the user's path from a clone
    assert "make clone-check" in README


def test_link_venv_hard_links_packages_rewrites_scripts_and_leaves_the_source_alone(tmp_path) -> None:
    """The clone check's second venv (.ci/link-venv): the packages are shared as hard links,
    the scripts name the new folder, and rewriting them never reaches the source."""
    source = tmp_path / "source"
    subprocess.run(["python3.11", "-m", "venv", "--without-pip", source], check=True)
    package = source / "lib" / "python3.11" / "site-packages" / "big.py"
    package.write_text("VALUE = 1\n")
    script = source / "bin" / "tool"
    script.write_text(f"#!{source}/bin/python\nimport big; print(big.VALUE)\n")
    script.chmod(0o755)
    dest = tmp_path / "dest"
    subprocess.run([REPO / ".ci" / "link-venv", source, dest], check=True)
    assert (dest / "lib" / "python3.11" / "site-packages" / "big.py").stat().st_ino == package.stat().st_ino
    assert (dest / "bin" / "tool").read_text().startswith(f"#!{dest}/bin/python\n")
    assert script.read_text().startswith(f"#!{source}/bin/python\n")
    assert f"{source}" not in (dest / "bin" / "activate").read_text()
    assert subprocess.run([dest / "bin" / "tool"], capture_output=True, text=True, check=True).stdout == "1\n"
    refused = subprocess.run([REPO / ".ci" / "link-venv", source, dest], capture_output=True, text=True)
    assert refused.returncode == 1 and "exists; not overwriting it" in refused.stderr


@pytest.mark.parametrize("path", ["src", "tests", "bench"])
def test_ruff_is_clean(path: str) -> None:
    result = subprocess.run([BIN / "ruff", "check", REPO / path], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_all_and_quick_check_data_first_and_scale_full_applies_the_overrides() -> None:
    for target in ("all", "quick", "report"):
        assert "dvc status -q data.dvc" in make_dry_run(target), target
    assert make_dry_run("all").splitlines()[-1] == "synaudio schedule"  # dvc repro on every core
    assert "dvc exp run" not in make_dry_run("all")  # default scale: params.yaml as it stands
    assert "dvc exp run $(synaudio params --overrides params.full.yaml)" in make_dry_run("all", "SCALE=full")
    assert "SCALE=huge: use SCALE=full" in make_dry_run("all", "SCALE=huge", check=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_image_builds_and_runs_make_quick_with_podman() -> None:
    """The user's docker build / docker run path for real (tests/image_test.sh, ~25 min)."""
    if os.geteuid() != 0 and shutil.which("podman") is None:
        pytest.skip("podman is not installed and cannot be installed without root")
    result = subprocess.run(["bash", REPO / "tests" / "image_test.sh"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "passed: image built" in result.stdout
