"""The SynTone study's pieces: front-ends, backbone, objectives, resumable training."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from synaudio import features, training
from synaudio import syntone_recipe as recipe
from synaudio.declared import with_metrics
from synaudio.errors import UserError
from synaudio.models.objectives import build_objective, reconstruction_error, stratified_log_weights
from synaudio.params import Params, validate
from synaudio.protocol import CORRECTED, PAPER, PROTOCOLS
from synaudio.studies.syntone import dataset as syntone
from synaudio.studies.syntone import tables
from tests.conftest import TINY, kill_after_first_checkpoint, train_command


def test_paper_front_end_matches_librosa_defaults() -> None:
    clip = np.random.default_rng(0).uniform(-1, 1, 16000).astype(np.float32)
    expected = librosa.feature.melspectrogram(y=clip.astype(np.float64), sr=16000)  # n_fft 2048, hop 512, ...
    ours = features.mel_transform(Params().features, 16000)(torch.from_numpy(clip)).numpy()
    assert ours.shape == expected.shape == (128, 32)
    assert np.abs(ours - expected).max() <= 1e-5 * expected.max()


def test_paper_front_end_erases_amplitude_and_corrected_keeps_it(tiny_study: dict[str, Path]) -> None:
    rows = {}
    for protocol in ("paper", "corrected"):
        feats, _, _ = features.load_features(tiny_study[protocol] / "features", f"features@{protocol}")
        table = syntone.factor_table(validate(TINY).syntone, PROTOCOLS[protocol])
        quiet = table.index[
            (table.frequency_idx == 1) & (table.waveform == "square") & (table.amplitude_idx == 0)
        ][0]
        loud = table.index[
            (table.frequency_idx == 1) & (table.waveform == "square") & (table.amplitude_idx == 2)
        ][0]
        rows[protocol] = (feats[quiet], feats[loud])
    quiet, loud = rows["paper"]
    assert np.abs(quiet - loud).max() < 1e-5  # 0.1 vs 1.0 amplitude: the same input
    quiet, loud = rows["corrected"]
    shift = (loud - quiet)[loud > 0.3]  # well above the floor: a 20 dB shift over an 80 dB range
    assert np.allclose(shift, 20 / 80, atol=1e-3)


def test_corrected_features_lie_in_unit_range_from_training_split_statistics(tiny_study) -> None:
    feats, manifest, split = features.load_features(
        tiny_study["corrected"] / "features", "features@corrected"
    )
    assert feats.min() >= 0 and feats.max() <= 1
    assert feats[split["train"]].max() == pytest.approx(1.0)
    assert manifest["normalisation"]["db_peak"] - manifest["normalisation"]["db_floor"] == 80.0
    assert len(split["train"]) == 48 and len(split["test"]) == 12


def test_stale_features_name_the_stage_to_rerun(tiny_study, tmp_path: Path) -> None:
    other = copy.deepcopy(TINY)
    other["syntone"]["amplitude"]["stop"] = 0.9
    syntone.build(validate(other).syntone, PAPER, tmp_path / "dataset")
    with pytest.raises(UserError, match=r"stale: .* re-run: dvc repro features@paper"):
        features.load_features(tiny_study["paper"] / "features", "features@paper", tmp_path / "dataset")


def test_backbone_has_the_papers_size_and_shapes() -> None:
    backbone = recipe.backbone()(8)
    assert sum(p.numel() for p in backbone.parameters()) == 1_117_521  # "about 1.1 M"
    out = backbone(torch.rand(3, 1, 128, 32))
    assert out["reconstruction"].shape == (3, 1, 128, 32) and out["z"].shape == (3, 8)


def test_the_encoders_inference_path_gives_its_outputs_bit_for_bit() -> None:
    """`Encoder.infer` pools before activating (backbone.py); negative inputs included."""
    torch.manual_seed(0)
    encoder = recipe.backbone()(8).encoder.eval()
    x = torch.rand(16, 1, 128, 32) - 0.5
    with torch.inference_mode():
        for a, b in zip(encoder(x), encoder.infer(x), strict=True):
            assert torch.equal(a, b)


def test_paper_reconstruction_sums_over_the_batch_and_corrected_averages() -> None:
    x, reconstruction = torch.rand(16, 1, 128, 32), torch.rand(16, 1, 128, 32)
    paper = reconstruction_error(x, reconstruction, PAPER.loss.reduction)
    corrected = reconstruction_error(x, reconstruction, CORRECTED.loss.reduction)
    assert paper == pytest.approx(16 * corrected)


def test_stratified_weights_spread_the_dataset_over_the_batch() -> None:
    weights = stratified_log_weights(5, 100, torch.device("cpu")).exp()
    assert torch.allclose(torch.diagonal(weights), torch.full((5,), 1 / 100))
    assert weights[0, 1] == pytest.approx((100 - 4) / (100 * 4)) and weights[3, 0] == weights[0, 1]


@pytest.mark.parametrize("model", ["vae", "factor_vae", "beta_tcvae"])
def test_every_objective_gives_finite_losses_that_train(model: str) -> None:
    params = validate({**TINY, "models": {**TINY["models"], "beta_tcvae": {"objective": "beta_tcvae"}}})
    torch.manual_seed(0)
    objective = build_objective(params.models[model], 8, 48, CORRECTED.loss)
    backbone = recipe.backbone()(8)
    losses = objective.losses(torch.rand(16, 1, 128, 32), backbone)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert all(p.grad is not None for p in backbone.parameters())


def test_a_nan_loss_stops_training_with_the_place_named(tiny_study, tmp_path: Path) -> None:
    feats, _, split = features.load_features(tiny_study["corrected"] / "features", "features@corrected")
    broken = np.array(feats)
    broken[split["train"][0], 0, 0] = np.nan
    with pytest.raises(UserError, match=r"the loss became nan at epoch 0, step \d+ \(vae\)"):
        params = validate(TINY)
        training.train(
            recipe.config(params, "vae", CORRECTED), params.models["vae"], recipe.backbone(), broken,
            split["train"], split["test"], tmp_path / "m", tmp_path / "c", seed=0, labels={"model": "vae"},
        )  # fmt: skip
    assert not (tmp_path / "m").exists()


def _train_tiny(
    tiny_study: dict[str, Path], out: Path, precision: str, curves: bool = True, compiled: bool = False,
    observers: tuple = (),
) -> bytes:  # fmt: skip
    feats, _, split = features.load_features(tiny_study["corrected"] / "features", "features@corrected")
    params = validate({**TINY, "training": {**TINY["training"], "precision": precision, "compile": compiled}})
    training.train(
        recipe.config(params, "vae", CORRECTED), params.models["vae"], recipe.backbone(), feats,
        split["train"], split["test"] if curves else None, out, out.with_name(out.name + "-ckpt"), seed=0,
        labels={"model": "vae"}, observers=observers,
    )  # fmt: skip
    return (out / "model.pt").read_bytes()


def test_an_epoch_observer_leaves_the_weights_untouched_and_survives_a_resume(tiny_study, tmp_path) -> None:
    """Measured at initialisation and after each of the 2 epochs, in eval mode without
    gradients or draws from the training's stream: the weights of an unobserved run; run
    again on its finished checkpoint, the new observer gets the records from the checkpoint."""

    def mean_weight(backbone: torch.nn.Module) -> dict[str, float]:
        assert not backbone.training and not torch.is_grad_enabled()
        return {"mean": float(next(backbone.parameters()).mean())}

    observed = [training.EpochObserver("probe", mean_weight)]
    assert _train_tiny(tiny_study, tmp_path / "with", "32-true", observers=observed) == _train_tiny(
        tiny_study, tmp_path / "without", "32-true"
    )
    records = json.loads((tmp_path / "with" / "training.json").read_text())["probe"]
    assert [r["epoch"] for r in records] == [0, 1, 2] and records[0]["measured"] != records[2]["measured"]
    assert "probe" not in json.loads((tmp_path / "without" / "training.json").read_text())

    def unused(backbone: torch.nn.Module) -> None:
        raise AssertionError("a finished run resumed from its checkpoint measures nothing")

    again = [training.EpochObserver("probe", unused)]
    _train_tiny(tiny_study, tmp_path / "with", "32-true", observers=again)  # resumes at its last epoch
    assert again[0].records == records


def test_held_out_curves_leave_the_weights_untouched(tiny_study, tmp_path: Path) -> None:
    """The curves draw their posterior samples from their own generator: the same weights with
    or without them, and a history with the ELBO, its parts and every dimension's KL."""
    assert _train_tiny(tiny_study, tmp_path / "with", "32-true") == _train_tiny(
        tiny_study, tmp_path / "without", "32-true", curves=False
    )
    history = json.loads((tmp_path / "with" / "training.json").read_text())["history"]
    last = history[-1]
    assert last["heldout/elbo"] == pytest.approx(-(last["heldout/nll"] + last["heldout/kl"]))
    assert last["heldout/kl"] == pytest.approx(sum(last[f"heldout/kl_dim{d}"] for d in range(8)))
    assert 0 < last["regulariser_weight"] <= 1 and history[0]["regulariser_weight"] < 1  # the warm-up
    assert (
        "heldout/elbo" not in json.loads((tmp_path / "without" / "training.json").read_text())["history"][-1]
    )


def test_factor_vae_keeps_its_doubled_epochs_under_the_corrected_budget() -> None:
    params = Params()  # epochs 20, FactorVAE 40, corrected_epochs 10
    assert recipe.epochs(params, "vae", PAPER) == 20 and recipe.epochs(params, "factor_vae", PAPER) == 40
    assert (
        recipe.epochs(params, "vae", CORRECTED) == 10 and recipe.epochs(params, "factor_vae", CORRECTED) == 20
    )


def test_mixed_precision_is_a_switch_that_changes_the_weights(tiny_study, tmp_path: Path) -> None:
    """bf16 autocast trains on a CPU (and changes the numbers: off for the committed results);
    16-bit floats need CUDA and are refused before anything is written."""
    full = _train_tiny(tiny_study, tmp_path / "fp32", "32-true")
    mixed = _train_tiny(tiny_study, tmp_path / "bf16", "bf16-mixed")
    assert full != mixed
    assert json.loads((tmp_path / "bf16" / "training.json").read_text())["final"]["train/loss"] > 0
    with pytest.raises(UserError, match=r"16-mixed needs a CUDA device .* use 32-true or bf16-mixed"):
        _train_tiny(tiny_study, tmp_path / "fp16", "16-mixed")
    assert not (tmp_path / "fp16").exists()


def test_compiling_keeps_the_weights_names_so_they_load_into_an_eager_network() -> None:
    network = recipe.backbone()(8)
    names = list(network.state_dict())
    training.compile_backbone(network)
    assert list(network.state_dict()) == names
    recipe.backbone()(8).load_state_dict(network.state_dict())


@pytest.mark.slow  # Inductor compiles C++ for ~30 s on a CPU
def test_compile_is_a_switch_that_changes_the_numbers(tiny_study, tmp_path: Path) -> None:
    eager = _train_tiny(tiny_study, tmp_path / "eager", "32-true")
    compiled = _train_tiny(tiny_study, tmp_path / "compiled", "32-true", compiled=True)
    assert eager != compiled
    loaded = recipe.backbone()(TINY["training"].get("latent_dim", Params().training.latent_dim))
    loaded.load_state_dict(torch.load(tmp_path / "compiled" / "model.pt", weights_only=True))


def test_a_killed_run_resumes_to_the_same_weights(tiny_study, tmp_path: Path, write_params) -> None:
    long = copy.deepcopy(TINY)
    long["training"]["epochs"] = 25
    long["tracking"] = {"enabled": False}
    params = write_params(long)
    study = tiny_study["corrected"]
    subprocess.run(train_command(study, tmp_path / "whole", tmp_path / "whole-ckpt", params), check=True,
                   capture_output=True)  # fmt: skip

    command = train_command(study, tmp_path / "resumed", tmp_path / "resumed-ckpt", params)
    checkpoint = tmp_path / "resumed-ckpt" / "last.ckpt"
    kill_after_first_checkpoint(command, checkpoint)
    assert not (tmp_path / "resumed").exists()
    epoch = torch.load(checkpoint, weights_only=False)["epoch"]
    assert epoch < 24, "the run finished before it was killed; nothing was resumed"

    subprocess.run(command, check=True, capture_output=True)
    summary = (tmp_path / "resumed" / "training.json").read_text()
    assert f'"resumed_from_epoch": {epoch + 1}' in summary
    whole = torch.load(tmp_path / "whole" / "model.pt")
    resumed = torch.load(tmp_path / "resumed" / "model.pt")
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_a_checkpoint_is_resumed_only_by_the_configuration_that_wrote_it(
    tiny_study, tmp_path: Path, write_params
) -> None:
    """Issue 12, case 1: a retrain with another gamma must not inherit the old weights."""
    tree = copy.deepcopy(TINY)
    tree["tracking"] = {"enabled": False}
    study, checkpoints = tiny_study["corrected"], tmp_path / "ckpt"
    first = write_params(tree, tmp_path / "first.yaml")
    subprocess.run(train_command(study, tmp_path / "a", checkpoints, first), check=True, capture_output=True)
    again = subprocess.run(train_command(study, tmp_path / "a2", checkpoints, first), check=True,
                           capture_output=True, text=True)  # fmt: skip
    assert '"resumed_from_epoch": 2' in (tmp_path / "a2" / "training.json").read_text(), again.stderr

    tree["models"]["factor_vae"]["gamma"] = 50.0
    other = write_params(tree, tmp_path / "other.yaml")
    stale = subprocess.run(train_command(study, tmp_path / "b", checkpoints, other), check=True,
                           capture_output=True, text=True)  # fmt: skip
    assert "not resuming" in stale.stderr and "another configuration" in stale.stderr
    summary = json.loads((tmp_path / "b" / "training.json").read_text())
    assert summary["resumed_from_epoch"] == 0
    assert [row["epoch"] for row in summary["history"]] == [1, 2] and "loss" in summary["history"][0]
    fresh = tmp_path / "fresh"
    subprocess.run(
        train_command(study, fresh, tmp_path / "fresh-ckpt", other), check=True, capture_output=True
    )
    assert (tmp_path / "b" / "model.pt").read_bytes() == (fresh / "model.pt").read_bytes()
    assert (tmp_path / "b" / "model.pt").read_bytes() != (tmp_path / "a" / "model.pt").read_bytes()


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    settings = Params().evaluation
    values = np.array([0.10, 0.12, 0.15, 0.11, 0.30])
    low, high = tables.bootstrap_interval(values, settings)
    assert low < values.mean() < high and values.min() <= low and high <= values.max()
    assert (low, high) == tables.bootstrap_interval(values, settings)
    assert tables.bootstrap_interval(np.full(5, 0.2), settings) == pytest.approx((0.2, 0.2))


def test_a_metric_of_its_own_stage_joins_the_evaluation_of_the_same_weights() -> None:
    evaluations = [{"protocol": "corrected", "model": "vae", "seed": s, "model_sha256": f"w{s}",
                    "metrics": {"mig": {"mean": 0.1, "std": 0.0}}} for s in (0, 1)]  # fmt: skip
    paper = {**evaluations[0], "protocol": "paper"}
    extra = [{"protocol": "corrected", "model": "vae", "seed": 1, "model_sha256": "w1",
              "metrics": {"infom": {"mean": 0.5, "std": 0.0}}}]  # fmt: skip
    merged = with_metrics([*evaluations, paper], extra, tables.model_key, "infomec_corrected")
    assert [set(m["metrics"]) for m in merged] == [{"mig"}, {"mig", "infom"}, {"mig"}]
    assert set(evaluations[1]["metrics"]) == {"mig"}  # the inputs are not modified
    extra[0]["model_sha256"] = "retrained"
    with pytest.raises(UserError, match=r"from other weights.*dvc repro infomec_corrected"):
        with_metrics(evaluations, extra, tables.model_key, "infomec_corrected")
