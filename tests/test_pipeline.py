"""The real pipeline on tiny data: `dvc repro`, no-op re-runs, experiments, push and pull."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synaudio.command import cpu_model
from synaudio.store import load_dataset
from tests.conftest import BIN, REPO, TINY, copy_project, dvc, full_params_yaml, git

DATASET_STAGES = ("syntone@paper", "syntone@corrected")
PIPELINE = (
    *DATASET_STAGES, "features@paper", "features@corrected",
    *(f"{stage}_{protocol}@{model}-{seed}" for stage in ("train", "evaluate")
      for protocol in ("paper", "corrected") for model in ("vae", "factor_vae") for seed in (0, 1)),
    "train_front_end_only@vae-0", "train_loss_only@vae-0",
    *(f"evaluate_{rung}@vae-0" for rung in ("rescored", "front_end_only", "loss_only")),
    "infomec_corrected", "aggregate", "report",
    *(f"{stage}@{v}" for stage in ("synspeech", "synspeech_checks") for v in ("small", "medium", "large")),
    *(f"{stage}@{v}" for stage in ("speech_features", "speech_baseline") for v in ("small", "medium")),
    *(f"{stage}@{v}-{model}-0" for stage in ("speech_train", "speech_evaluate") for v in ("small", "medium")
      for model in ("vae", "factor_vae")),
    "speech_features_level@medium", "speech_train_level@medium-vae-0", "speech_evaluate_level@medium-vae-0",
    "speech_infomec@small", "speech_infomec@medium", "speech_infomec_level@medium",
    *(f"{stage}@small-0" for stage in ("rave_train", "rave_encode", "score_rave_style")),
    "speech_aggregate", "speech_report", "rave_report", "receptive_fields", "layer_analysis",
    "syntone_layer_analysis", "dynamics_train@vae-0", "dynamics_train@factor_vae-0", "training_dynamics",
    "paper_dynamics_train@vae-0", "paper_training_dynamics",
    *(f"input_size_train@32-{hop}-vae-0" for hop in (1024, 2048)), "input_size_sweep",
    "paper_input_size_train@32-2048-vae-0", "paper_input_size_sweep", "speech_dynamics_train@vae-0",
    "speech_training_dynamics", "speech_input_size_train@32-876-vae-0", "speech_input_size_sweep",
    "analyses_report",
    "ssl_features",
    *(f"{stage}@{method}-0" for stage in ("ssl_pretrain", "ssl_probe") for method in ("bt", "mbt_width")),
    *(f"{stage}@invariance_only-0" for stage in ("ssl_arm", "ssl_arm_probe")),
    "ssl_random_probe@0", "ssl_log_mel_probe", "ssl_trivial_probe", "ssl_vae_probe@vae-0",
    "ssl_finetune@mbt_width-0", "ssl_scratch@0",
    "ssl_transfer_features", "ssl_transfer", "ssl_aggregate", "ssl_report",
)  # fmt: skip


def test_repro_writes_every_declared_output(reproduced: Path) -> None:
    stages = yaml.safe_load((reproduced / "dvc.lock").read_text())["stages"]
    assert sorted(stages) == sorted(PIPELINE)
    for protocol in ("paper", "corrected"):
        dataset = load_dataset(reproduced / "artifacts" / "syntone" / protocol / "dataset", verify=True)
        assert dataset.audio.shape == (60, 16000)
        assert dataset.manifest["spec"]["protocol"] == protocol


def test_cached_outputs_are_hard_links_into_the_cache(reproduced: Path) -> None:
    """A dataset must not occupy its size twice: with `reflink` first in cache.type, DVC 3
    commits a directory output by copying it into the cache (seen: 2 GB -> 4 GB)."""
    for protocol in ("paper", "corrected"):
        for file in (reproduced / "artifacts" / "syntone" / protocol / "dataset").iterdir():
            assert file.stat().st_nlink >= 2, f"{file} is a copy of its cache entry, not a link"


def test_nothing_changed_means_nothing_runs(reproduced: Path, tracking_uri: str) -> None:
    result = dvc(reproduced, "repro", tracking_uri=tracking_uri)
    assert "Data and pipelines are up to date" in result.stdout
    assert "Running stage" not in result.stdout
    assert dvc(reproduced, "status", "--json", tracking_uri=tracking_uri).stdout.strip() == "{}"


def test_metrics_show_lists_the_dataset_summaries(reproduced: Path, tracking_uri: str) -> None:
    shown = json.loads(dvc(reproduced, "metrics", "show", "--json", tracking_uri=tracking_uri).stdout)
    files = next(iter(shown.values()))["data"]
    for protocol in ("paper", "corrected"):
        summary = files[f"artifacts/syntone/{protocol}/dataset.json"]["data"]
        assert summary["clips"] == 60
    paper = files["artifacts/syntone/paper/dataset.json"]["data"]["frequency_scale"]
    assert paper == pytest.approx(16000 / 15999)
    evaluation = files["artifacts/syntone/corrected/eval/factor_vae-seed1.json"]["data"]
    assert 0 <= evaluation["metrics"]["mig"]["mean"] <= 1
    assert 0 <= evaluation["held_out"]["active_dimensions"] <= 8  # DVC leaves lists out of metrics


def test_aggregate_table_has_every_model_and_both_protocols(reproduced: Path) -> None:
    table = pd.read_csv(reproduced / "artifacts" / "syntone" / "results.csv")
    mig = table[table.metric == "mig"].set_index("model")
    assert sorted(mig.index) == ["factor_vae", "vae"]
    assert mig.loc["vae", "published_mean"] == 0.280
    assert mig[["paper_mean", "corrected_mean"]].notna().all().all()
    assert (mig.corrected_seeds == 2).all() and (mig.paper_seeds == 2).all()
    assert mig.published_vs_seeds.notna().all()
    assert set(mig.published_vs_seeds) <= {"inside", "above", "below"}
    markdown = (reproduced / "artifacts" / "syntone" / "results.md").read_text()
    assert markdown.startswith("| model | metric | better | published |") and "(2 seeds)" in markdown
    assert "95 % CI [" in markdown  # the corrected column's bootstrap interval over seeds


def test_infomec_sits_beside_dci_in_both_results_tables(reproduced: Path) -> None:
    """Rows in the SynTone table (corrected protocol, every seed), columns in SynSpeech's
    (both front-end arms), and in the README each report stage rewrote."""
    syntone = pd.read_csv(reproduced / "artifacts" / "syntone" / "results.csv")
    rows = syntone[syntone.metric.isin(["infom", "infoe", "infoc"])]
    assert len(rows) == 6 and set(rows.model) == {"vae", "factor_vae"}
    assert (rows.corrected_seeds == 2).all() and rows.paper_mean.isna().all()
    assert rows.corrected_mean.between(-0.05, 1).all()
    one = json.loads((reproduced / "artifacts/syntone/corrected/infomec/vae-seed1.json").read_text())
    evaluation = json.loads((reproduced / "artifacts/syntone/corrected/eval/vae-seed1.json").read_text())
    assert one["model_sha256"] == evaluation["model_sha256"]
    assert "mutual_info_classif" in one["settings"]["nmi"] and one["settings"]["bins"] == 20
    speech = pd.read_csv(reproduced / "artifacts" / "speech" / "results.csv")
    scored = speech[speech.metric == "infoc"]
    assert {"vae", "factor_vae", "vae (level-normalised)"} <= set(scored.model)
    readme = (reproduced / "README.md").read_text()
    assert "| vae | infoe | ↑ |" in readme and "| explicitness | infom | infoe | infoc |" in readme


def test_the_ablation_ladder_has_four_rungs_scored_alike(reproduced: Path) -> None:
    ladder = pd.read_csv(reproduced / "artifacts" / "syntone" / "ladder.csv")
    assert ladder["protocol"].tolist() == ["rescored", "front_end_only", "loss_only", "corrected"]
    assert (ladder["model"] == "vae").all() and (ladder["seeds"] == 1).all()
    assert ladder[["active_units", "total_kl", "mig"]].notna().all().all()
    corrected = json.loads((reproduced / "artifacts/syntone/corrected/eval/vae-seed0.json").read_text())
    assert ladder.iloc[3]["mig"] == corrected["metrics"]["mig"]["mean"]  # rung 4 is the corrected run itself
    history = json.loads(
        (reproduced / "artifacts/syntone/ladder/loss_only/models/vae/seed0/training.json").read_text()
    )
    assert {"heldout/elbo", "heldout/kl_dim0", "decoder_variance"} <= set(history["history"][-1])


def test_a_param_change_reruns_only_what_depends_on_it(reproduced: Path, tracking_uri: str) -> None:
    result = dvc(
        reproduced, "exp", "run", "--temp", "-S", "evaluation.paper_repeats=3", tracking_uri=tracking_uri
    )
    ran = sorted(
        line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")
    )
    evaluations = [f"evaluate_paper@{model}-{seed}" for model in ("factor_vae", "vae") for seed in (0, 1)]
    assert ran == ["aggregate", *evaluations, "report"]
    table = json.loads(dvc(reproduced, "exp", "show", "--json", tracking_uri=tracking_uri).stdout)
    experiments = [exp for baseline in table for exp in (baseline.get("experiments") or [])]
    assert len(experiments) == 1
    evaluation = experiments[0]["revs"][0]["data"]["metrics"]["artifacts/syntone/paper/eval/vae-seed0.json"]
    assert evaluation["data"]["settings"]["repeats"] == 3
    assert (reproduced / "params.yaml").read_text() == full_params_yaml(TINY)  # the workspace is untouched


def test_push_to_a_local_remote_and_pull_into_a_fresh_clone(
    reproduced: Path, tmp_path: Path, tracking_uri: str
) -> None:
    remote = tmp_path / "remote"
    dvc(reproduced, "remote", "add", "--local", "-f", "scratch", str(remote), tracking_uri=tracking_uri)
    dvc(reproduced, "push", "-r", "scratch", tracking_uri=tracking_uri)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(reproduced), str(clone))
    dvc(clone, "remote", "add", "--local", "scratch", str(remote), tracking_uri=tracking_uri)
    dvc(clone, "pull", "-r", "scratch", tracking_uri=tracking_uri)
    for protocol in ("paper", "corrected"):
        relative = Path("artifacts/syntone") / protocol / "dataset"
        original, pulled = load_dataset(reproduced / relative), load_dataset(clone / relative, verify=True)
        assert pulled.manifest == original.manifest
    assert dvc(clone, "status", "--json", tracking_uri=tracking_uri).stdout.strip() == "{}"


def test_committed_lock_was_made_from_the_committed_params() -> None:
    """No stale results on main: dvc.lock records the params.yaml beside it."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for stage in DATASET_STAGES:
        assert lock[stage]["params"]["params.yaml"]["syntone"] == params["syntone"], (
            f"re-run dvc repro {stage}"
        )


def test_a_bad_param_fails_the_stage_with_the_key_named(tmp_path: Path, tracking_uri: str) -> None:
    project = copy_project(tmp_path / "project", TINY)
    bad = yaml.safe_load((project / "params.yaml").read_text())
    bad["syntone"]["frequency"]["stop"] = 20000.0
    (project / "params.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run([BIN / "dvc", "repro"], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert (
        "syntone.frequency.stop: 20000.0 Hz is above the Nyquist frequency" in result.stderr + result.stdout
    )
    assert not (project / "artifacts" / "syntone" / "paper" / "dataset").exists()


PINNED = REPO / "tests" / "tiny_outputs.json"


NUMBER = re.compile(rb"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def _pinned_bytes(path: Path) -> bytes:
    """The file's bytes (JSON without the provenance a training's run id and time put in it); in
    JSON and CSV every decimal number rounded to 10 significant
    digits. Datasets, features and weights must match bit for bit; the metrics' last digits
    move with the CPU's numpy SIMD path (1e-13 relative between two x86 machines, measured),
    which is not a change of behaviour."""
    data = path.read_bytes()
    record = json.loads(data) if path.suffix == ".json" else None
    if isinstance(record, dict) and {"provenance", "representation"} & set(record):
        record.pop("provenance", None)  # a training's MLflow run and time, copied with scored codes
        record.pop("representation", None)
        data = json.dumps(record, indent=2, sort_keys=True).encode()
    if path.suffix in (".json", ".csv"):
        data = NUMBER.sub(lambda m: b"%.10g" % float(m.group()), data)
    return data


def output_hashes(project: Path) -> dict[str, str]:
    """SHA-256 of every pipeline output file except training.json (it names the MLflow run
    and the time taken), DVC's own .gitignore files and the checkpoints (not outputs)."""
    return {
        name: hashlib.sha256(_pinned_bytes(path)).hexdigest()
        for path in sorted((project / "artifacts").rglob("*"))
        if path.is_file()
        and path.name not in ("training.json", ".gitignore")
        and "/checkpoints/" not in (name := path.relative_to(project).as_posix())
    }


MACHINE_INDEPENDENT = ("/dataset/", "/features/", "/dataset.json", "/checks.json")


def test_tiny_pipeline_outputs_are_identical_to_the_pinned_ones(reproduced: Path) -> None:
    """Datasets, features, weights, evaluations and tables of the TINY pipeline, pinned by hash
    (numbers in JSON/CSV to 10 significant digits): a change of structure must not change
    them. Weights and what follows from them are compared on the CPU model that recorded the
    pins (oneDNN sizes its convolution blocking by the caches, so another model may round
    differently within the AVX2 pin); datasets and features on every machine. If a change of
    behaviour is intended, re-pin with SYNAUDIO_REPIN=1 (the test then rewrites
    tests/tiny_outputs.json and fails once, so the new hashes are reviewed and committed)."""
    hashes = output_hashes(reproduced)
    if os.environ.get("SYNAUDIO_REPIN"):
        PINNED.write_text(
            json.dumps({"cpu": cpu_model(), "outputs": hashes}, indent=1, sort_keys=True) + "\n"
        )
        pytest.fail(f"re-pinned {len(hashes)} outputs in {PINNED}; review and commit it")
    pinned = json.loads(PINNED.read_text())
    outputs = pinned["outputs"]
    if pinned["cpu"] != cpu_model():
        keep = {
            name
            for name in outputs.keys() | hashes.keys()
            if any(part in name for part in MACHINE_INDEPENDENT)
        }
        outputs, hashes = {k: outputs.get(k) for k in keep}, {k: hashes.get(k) for k in keep}
        assert len(keep) >= 20, f"only {len(keep)} machine-independent outputs to compare"
    changed = sorted(name for name in outputs.keys() | hashes.keys() if outputs.get(name) != hashes.get(name))
    assert not changed, f"{len(changed)} outputs differ from tests/tiny_outputs.json: {changed[:8]}"
