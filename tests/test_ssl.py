"""The self-supervised study: Barlow Twins / MBT loss with known answers, the views, the
DDP gradient trap (two real gloo processes), the encoder, and pretraining's resume."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from tqdm import tqdm

from synaudio.errors import UserError
from synaudio.features import in_scale
from synaudio.models.speech_encoder import SpeechEncoder
from synaudio.params import SelfSupervised, SslFinetune, SslTask, SslTransfer, SslViews, validate
from synaudio.server import free_port
from synaudio.studies.ssl import claims, finetune, objectives, probe, schema, transfer
from synaudio.studies.ssl.networks import TwinNetwork
from synaudio.studies.ssl.objectives import barlow_twins_loss, cross_correlation
from synaudio.studies.ssl.views import two_views, view
from tests.conftest import BIN, TINY, kill_after_first_checkpoint


def _embeddings(n: int = 32, d: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cross_correlation_matches_a_direct_float64_computation() -> None:
    za, zb = _embeddings(seed=1), _embeddings(seed=2)
    a = (za - za.mean(0)) / torch.sqrt(za.var(0, unbiased=False) + objectives.EPS)
    b = (zb - zb.mean(0)) / torch.sqrt(zb.var(0, unbiased=False) + objectives.EPS)
    expected = (a.T @ b).numpy() / za.shape[0]
    np.testing.assert_allclose(cross_correlation(za, zb).numpy(), expected, rtol=0, atol=1e-12)
    c = expected
    on = ((1 - np.diag(c)) ** 2).sum()
    off = (c**2).sum() - (np.diag(c) ** 2).sum()
    losses = barlow_twins_loss(za, zb, lambda_=0.3)
    assert float(losses["loss"]) == pytest.approx(on + 0.3 * off, rel=1e-12)


def test_a_hand_computed_pair() -> None:
    """Two clips, one dimension: standardised views are (-1, 1) and (1, -1), so C = -1 and
    the invariance term is (1 - (-1))^2 = 4 (up to the standardisation's epsilon)."""
    za = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    zb = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    losses = barlow_twins_loss(za, zb, lambda_=1.0)
    assert float(losses["invariance"]) == pytest.approx(4.0, rel=1e-4)
    assert float(losses["redundancy"]) == 0.0


@pytest.mark.parametrize("normalisation", ["bt", "l2", "width"])
def test_identical_views_have_no_invariance_loss_and_a_permuted_batch_has(normalisation: str) -> None:
    z = _embeddings()
    same = barlow_twins_loss(z, z.clone(), lambda_=0.1, normalisation=normalisation)
    assert float(same["invariance"]) < 1e-6  # the standardisation's epsilon
    permuted = barlow_twins_loss(z, z[torch.randperm(len(z))], lambda_=0.1, normalisation=normalisation)
    assert float(permuted["invariance"]) > 0.1


def test_rescaling_one_embedding_changes_bt_and_not_mbt() -> None:
    za, zb = _embeddings(seed=3), _embeddings(seed=4)
    scaled = za.clone()
    scaled[5] *= 7.0
    for normalisation in ("l2", "width"):
        before = barlow_twins_loss(za, zb, lambda_=0.2, normalisation=normalisation)["loss"]
        after = barlow_twins_loss(scaled, zb, lambda_=0.2, normalisation=normalisation)["loss"]
        assert float(after) == pytest.approx(float(before), rel=1e-10)
    before = barlow_twins_loss(za, zb, lambda_=0.2)["loss"]
    after = barlow_twins_loss(scaled, zb, lambda_=0.2)["loss"]
    assert abs(float(after) - float(before)) > 1e-3


def test_width_normalised_terms_are_per_entry_means() -> None:
    za, zb = _embeddings(d=6, seed=5), _embeddings(d=6, seed=6)
    l2 = barlow_twins_loss(za, zb, lambda_=1.0, normalisation="l2")
    width = barlow_twins_loss(za, zb, lambda_=1.0, normalisation="width")
    assert float(width["invariance"]) == pytest.approx(float(l2["invariance"]) / 6, rel=1e-12)
    assert float(width["redundancy"]) == pytest.approx(float(l2["redundancy"]) / 30, rel=1e-12)


def test_ablation_weights_remove_one_term() -> None:
    za, zb = _embeddings(seed=7), _embeddings(seed=8)
    invariance_only = barlow_twins_loss(za, zb, lambda_=0.0)
    assert float(invariance_only["loss"]) == float(invariance_only["invariance"])
    redundancy_only = barlow_twins_loss(za, zb, lambda_=0.5, invariance_weight=0.0)
    assert float(redundancy_only["loss"]) == pytest.approx(0.5 * float(redundancy_only["redundancy"]))


def test_lambda_follows_the_width_for_bt_and_l2_only() -> None:
    settings = SelfSupervised()
    assert settings.objective("bt").redundancy_weight(1024) == pytest.approx(1 / 1024)
    assert settings.objective("mbt_l2").redundancy_weight(1024) == pytest.approx(1 / 1024)
    assert settings.objective("mbt_width").redundancy_weight(1024) == 1.0
    assert settings.objective("invariance_only").redundancy_weight(1024) == 0.0


# --- the DDP gradient trap: two real processes (gloo on the loopback interface) ---------

WORLD = 2


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    return x, x + 0.3 * torch.randn(8, 6, generator=generator, dtype=torch.float64)


def _network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(6, 4).double()


def _plain_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """The trap: torch.distributed.all_reduce sums the values but not their gradients."""
    import torch.distributed as dist

    summed = tensor.clone()
    dist.all_reduce(summed.detach())
    return tensor + (summed - tensor).detach()


def _ddp_rank(rank: int, port: int, out: str, plain: bool) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        if plain:
            objectives._summed = _plain_all_reduce
        model = DistributedDataParallel(_network())
        a, b = _batch()
        half = slice(rank * 4, rank * 4 + 4)
        z = model(torch.cat([a[half], b[half]]))
        za, zb = z.chunk(2)
        barlow_twins_loss(za, zb, lambda_=0.25)["loss"].backward()
        torch.save({name: p.grad for name, p in model.module.named_parameters()}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _ddp_gradients(tmp_path: Path, plain: bool) -> list[dict[str, torch.Tensor]]:
    import torch.multiprocessing as mp

    tmp_path.mkdir()
    mp.start_processes(
        _ddp_rank, args=(free_port(), str(tmp_path), plain), nprocs=WORLD, start_method="spawn", join=True
    )
    return [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]


def test_ddp_gradients_equal_one_process_on_the_whole_batch(tmp_path: Path) -> None:
    """Each of two processes sees half the batch; summing the batch statistics with a
    differentiable all-reduce gives both the single-process gradient of the whole batch
    (after DDP's averaging). A plain all-reduce - the trap SSL.md names - does not."""
    model = _network()
    a, b = _batch()
    z = model(torch.cat([a, b]))
    za, zb = z.chunk(2)
    barlow_twins_loss(za, zb, lambda_=0.25)["loss"].backward()
    expected = {name: p.grad for name, p in model.named_parameters()}
    for plain in (False, True):
        for grads in _ddp_gradients(tmp_path / str(plain), plain):
            for name, grad in expected.items():
                close = torch.allclose(grads[name], grad, rtol=1e-9, atol=1e-12)
                assert close != plain, f"{'plain' if plain else 'differentiable'} all-reduce, {name}"


def test_the_learning_rate_warms_up_then_decays_to_zero() -> None:
    from synaudio.studies.ssl.pretrain import schedule

    factors = [schedule(step, total=10, warmup=2) for step in range(10)]
    assert factors[:3] == [0.5, 1.0, 1.0] and factors[-1] < 0.05
    assert all(later <= earlier for earlier, later in pairwise(factors[1:]))


# --- views, encoder ------------------------------------------------------------------


def test_views_crop_stay_in_range_and_follow_the_seed() -> None:
    x = torch.rand(6, 64, 128)
    settings = SslViews(crop_frames=96, p=1.0)
    torch.manual_seed(3)
    a, b = two_views(x, settings, top_db=80.0)
    torch.manual_seed(3)
    again, _ = two_views(x, settings, top_db=80.0)
    assert a.shape == b.shape == (6, 64, 96)
    assert torch.equal(a, again) and not torch.equal(a, b)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_a_view_without_transforms_is_a_crop_of_the_clip() -> None:
    x = torch.rand(3, 8, 20)
    torch.manual_seed(0)
    cropped = view(x, SslViews(crop_frames=16, p=0.0), top_db=80.0)
    for clip, crop in zip(x, cropped, strict=True):
        starts = [s for s in range(5) if torch.equal(clip[:, s : s + 16], crop)]
        assert len(starts) == 1


def test_noise_at_a_high_snr_barely_changes_the_view() -> None:
    x = torch.rand(4, 16, 32) * 0.5 + 0.5
    settings = SslViews(crop_frames=32, p=1.0, snr_db=[60.0, 60.0], time_mask=0, mel_mask=0, tilt_db=0.0)
    torch.manual_seed(0)
    noisy = view(x, settings, top_db=80.0)
    assert float((noisy - x).abs().max()) < 0.01 and float((noisy - x).min()) >= 0.0


def test_the_encoder_takes_any_length_and_the_projector_sets_the_width() -> None:
    net = TwinNetwork((4, 8), (16, 12))
    assert net.encoder(torch.rand(3, 1, 64, 96)).shape == (3, 8)
    assert net.encoder(torch.rand(3, 1, 64, 128)).shape == (3, 8)
    assert net(torch.rand(3, 1, 64, 96)).shape == (3, 12)


# --- labelled subsets, rescaling -----------------------------------------------------


def test_labelled_subsets_are_nested_stratified_and_seeded() -> None:
    labels = np.repeat(np.arange(5), [40, 40, 20, 10, 3])
    rows = np.arange(len(labels))
    small, larger = (probe.labelled_subset(labels, rows, f, seed=0) for f in (0.05, 0.5))
    assert set(small) <= set(larger)
    assert sorted(np.unique(labels[small])) == list(range(5))  # every class, at least one clip
    assert np.bincount(labels[larger]).tolist() == [20, 20, 10, 5, 2]
    assert np.array_equal(probe.labelled_subset(labels, rows, 1.0, seed=3), rows)
    assert not np.array_equal(small, probe.labelled_subset(labels, rows, 0.05, seed=1))


def test_features_are_re_expressed_on_the_pretraining_db_range() -> None:
    x = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    same = {"db_floor": -50.0, "db_peak": 30.0}
    np.testing.assert_allclose(in_scale(x, same, same, 80.0), x, atol=1e-7)
    shifted = in_scale(x, same, {"db_floor": -40.0, "db_peak": 40.0}, 80.0)  # 10 dB higher range
    np.testing.assert_allclose(shifted, [0.0, 0.375, 0.875], atol=1e-7)  # -50 dB clips to -40


# --- fine-tuning -------------------------------------------------------------------


def _clips(x: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> finetune.Clips:
    return finetune.Clips(x, rows, labels[rows], rescale=lambda batch: batch)


def test_fine_tuning_learns_a_separable_task_and_follows_its_seed() -> None:
    """Two classes that differ in level: the curve starts at chance and ends at 1; the same
    seed gives the same curve, another seed another."""
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    x = (rng.random((64, 16, 32)) * 0.2 + 0.6 * labels[:, None, None]).astype(np.float32)
    train, held_out = _clips(x, labels, np.arange(48)), _clips(x, labels, np.arange(48, 64))

    def curve(seed: int) -> list[dict]:
        torch.manual_seed(1)
        model = finetune.Classifier(SpeechEncoder((4, 8)), 8, 2)
        return finetune.learning_curve(model, train, held_out, evaluate_at=[0, 5, 60], batch_size=8,
                                       lr=1e-2, seed=seed)  # fmt: skip

    first = curve(3)
    assert [p["step"] for p in first] == [0, 5, 60] and first[0]["train_loss"] is None
    assert first[0]["accuracy"] == 0.5 and first[-1]["accuracy"] == 1.0
    assert first[-1]["train_loss"] < first[1]["train_loss"]
    assert first == curve(3) and first != curve(4)


def test_fine_tuning_copies_the_encoder_it_starts_from() -> None:
    """Each labelled fraction starts from the same weights: the encoder passed in is never
    trained itself."""
    encoder = SpeechEncoder((4, 8))
    before = copy.deepcopy(encoder.state_dict())
    labels = np.arange(20) % 2
    task = probe.Task(
        "t",
        SslTask(version="small", factor="f"),
        np.random.default_rng(0).random((20, 16, 32), dtype=np.float32),
        lambda b: b,
        labels,
        {"train": np.arange(14), "test": np.arange(14, 20)},
    )
    settings = SslFinetune(methods=[], fractions=[0.5, 1.0], evaluate_at=[0, 3], batch_size=4, eval_clips=4)
    with tqdm(disable=True) as bar:
        result = finetune._curves(task, encoder, 8, settings, seed=0, subset_seed=0, bar=bar)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    assert [p["labelled"] for p in result["points"]] == [8, 14] and result["evaluated"] == 4
    assert result["points"][0]["curve"][0] == result["points"][1]["curve"][0]  # same start, same head


def test_finetune_settings_are_checked_against_the_pretrainings() -> None:
    with pytest.raises(ValueError, match=r"are not under ssl\.methods or ssl\.arms"):
        SelfSupervised(finetune={"methods": ["nope"]})
    with pytest.raises(ValueError, match="invariance_only is pretrained at seeds"):
        SelfSupervised(arm_seeds=[0], finetune={"methods": ["invariance_only"], "seeds": [1]})
    with pytest.raises(ValueError, match="evaluate_at"):
        SelfSupervised(finetune={"evaluate_at": [5, 10]})


def test_the_vae_family_baseline_names_trained_speech_models() -> None:
    with pytest.raises(UserError, match=r"ssl.vae_family.models: \['nope'\] are not under speech.models"):
        validate({"ssl": {"vae_family": {"models": ["nope"]}}})
    with pytest.raises(UserError, match=r"ssl.vae_family.seeds: \[7\] are not under speech.seeds"):
        validate({"ssl": {"vae_family": {"seeds": [7]}}})
    with pytest.raises(UserError, match="name baselines"):
        validate({"ssl": {"methods": {"vae": {}}}})


def test_a_method_named_like_a_trivial_feature_is_refused() -> None:
    params = validate({"ssl": {"arms": {"median_f0": {"normalisation": "bt", "invariance_weight": 1.0}}}})
    with pytest.raises(UserError, match=r"\['median_f0'\] name trivial-feature baselines"):
        schema.trained(params)


# --- transfer read-out -------------------------------------------------------------


def test_the_read_out_finds_factors_a_representation_holds_and_not_others() -> None:
    """Columns that are the factors give accuracy 1 and R^2 ~1; noise gives about chance."""
    rng = np.random.default_rng(0)
    n = 400
    factors = {"waveform": rng.integers(0, 4, n), "frequency_hz": rng.uniform(440, 8000, n),
               "amplitude": rng.uniform(0.1, 1.0, n)}  # fmt: skip
    holds = np.column_stack([np.eye(4)[factors["waveform"]], factors["frequency_hz"], factors["amplitude"]])
    scores = transfer.read_out(holds, factors, n_train=300)
    assert scores["waveform"] == 1.0 and scores["frequency_hz"] > 0.99 and scores["amplitude"] > 0.99
    noise = transfer.read_out(rng.normal(size=(n, 6)), factors, n_train=300)
    assert noise["waveform"] < 0.4 and noise["frequency_hz"] < 0.05 and noise["amplitude"] < 0.05
    chance = transfer.chance(factors, 300)
    assert 0.15 < chance["waveform"] < 0.4 and chance["frequency_hz"] == 0.0


def test_transfer_subsets_are_seeded_and_stay_in_their_part() -> None:
    split = {"train": np.arange(0, 80), "test": np.arange(80, 100)}
    settings = SslTransfer(train_clips=10, test_clips=50)
    train, test = transfer.subsets(split, settings)
    assert len(train) == 10 and set(train) <= set(split["train"]) and np.array_equal(test, split["test"])
    assert np.array_equal(train, transfer.subsets(split, settings)[0])
    assert not np.array_equal(train, transfer.subsets(split, SslTransfer(train_clips=10, subset_seed=1))[0])


# --- the claims ------------------------------------------------------------------


def test_verdicts_follow_the_interval_of_the_paired_difference() -> None:
    assert claims.verdict(0.10, 0.05, gain=True) == "supported"
    assert claims.verdict(-0.10, 0.05, gain=True) == "contradicted"
    assert claims.verdict(0.02, 0.05, gain=True) == "not resolved"
    assert claims.verdict(0.02, 0.05, gain=False) == "supported"  # no gain shown: the "no gain" claim holds
    assert claims.verdict(0.10, 0.05, gain=False) == "contradicted"
    assert claims.verdict(0.10, float("nan"), gain=True) == "not testable (one seed)"


def test_claims_pair_seeds_and_compute_the_difference() -> None:
    """bt beats random by 0.2, 0.25, 0.3 on speaker at 1 %: mean 0.25, t(2) interval
    4.303 x 0.05 / sqrt(3); seeds without a partner are left out."""
    at = {"task": "speaker", "fraction": 0.01}
    probes = pd.DataFrame(
        [{"encoder": "bt", "seed": s, **at, "score": 0.55 + 0.05 * s} for s in (1, 2, 3)]
        + [{"encoder": "random", "seed": s, **at, "score": 0.4} for s in (1, 2, 3, 4)]
    )  # fmt: skip
    empty = pd.DataFrame(columns=["encoder", "seed", "task", "fraction", "step", "group", "name", "score"])
    table = claims.evaluate({"probes": probes, "finetune": empty, "transfer": empty}, SelfSupervised())
    (row,) = table.itertuples()
    assert row.test == "probe, speaker, 1% of the labels" and row.seeds == 3
    assert row.difference == pytest.approx(0.25)
    assert row.ci95 == pytest.approx(4.302653 * 0.05 / np.sqrt(3), rel=1e-5)
    assert row.verdict == "supported" and "| accelerated learning |" in claims.markdown(table)


@pytest.mark.parametrize("baseline", ["log_mel", "level_duration_f0"])
def test_a_seedless_baseline_pairs_with_every_seed(baseline: str) -> None:
    at = {"task": "keyword", "fraction": 0.01}
    probes = pd.DataFrame(
        [{"encoder": "bt", "seed": s, **at, "score": 0.5 + 0.1 * s} for s in (0, 1, 2)]
        + [{"encoder": baseline, "seed": 0, **at, "score": 0.4}]
    )  # fmt: skip
    empty = pd.DataFrame(columns=["encoder", "seed", "task", "fraction", "step", "group", "name", "score"])
    table = claims.evaluate({"probes": probes, "finetune": empty, "transfer": empty}, SelfSupervised())
    (row,) = table.itertuples()
    assert (row.b, row.seeds, row.b_mean) == (baseline, 3, pytest.approx(0.4))
    assert row.difference == pytest.approx(0.2) and row.ci95 == pytest.approx(4.302653 * 0.1 / np.sqrt(3))


# --- pretraining through the CLI: resume after a kill, refusals ----------------------


def _features_folder(path: Path, clips: int = 40) -> Path:
    """A features folder in synaudio.features' layout with random log-mels."""
    path.mkdir(parents=True)
    x = np.random.default_rng(0).random((clips, 64, 128), dtype=np.float32)
    np.save(path / "features.npy", x)
    np.savez(path / "split.npz", train=np.arange(clips - 8), test=np.arange(clips - 8, clips))
    manifest = {"shape": list(x.shape), "sha256": "0" * 64, "dataset_digest": "1" * 64,
                "normalisation": {"db_floor": -50.0, "db_peak": 30.0}}  # fmt: skip
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def _pretrain_command(params: Path, features: Path, out: Path) -> list[str]:
    checkpoints = out.parent / f"{out.name}-ckpt"
    return [str(BIN / "synaudio"), "--params", str(params), "ssl-pretrain", "--method", "bt", "--seed", "0",
            "--features", str(features), "--out", str(out), "--checkpoints", str(checkpoints)]  # fmt: skip


def test_a_killed_pretraining_resumes_to_the_same_weights(tmp_path: Path, write_params) -> None:
    tree = copy.deepcopy(TINY)
    tree["ssl"]["epochs"] = 30
    tree["tracking"] = {"enabled": False}
    params, features = write_params(tree), _features_folder(tmp_path / "features")
    subprocess.run(_pretrain_command(params, features, tmp_path / "whole"), check=True, capture_output=True)
    command = _pretrain_command(params, features, tmp_path / "resumed")
    checkpoint = tmp_path / "resumed-ckpt" / "last.ckpt"
    kill_after_first_checkpoint(command, checkpoint)
    assert not (tmp_path / "resumed").exists()
    epoch = torch.load(checkpoint, weights_only=False)["epoch"]
    assert epoch < 29, "the run finished before it was killed; nothing was resumed"
    subprocess.run(command, check=True, capture_output=True)
    summary = json.loads((tmp_path / "resumed" / "training.json").read_text())
    assert summary["resumed_from_epoch"] == epoch + 1 and len(summary["history"]) == 30
    assert {"held_out/loss", "held_out/representation_std", "invariance"} <= set(summary["history"][-1])
    assert (tmp_path / "whole" / "model.pt").read_bytes() == (tmp_path / "resumed" / "model.pt").read_bytes()


def test_undeclared_runs_and_a_random_encoder_with_weights_are_refused(
    cli, tmp_path: Path, write_params
) -> None:
    params, features = write_params(), _features_folder(tmp_path / "features")
    result = cli("--params", params, "ssl-pretrain", "--method", "bt", "--seed", "7", "--features", features,
                 "--out", tmp_path / "m", "--checkpoints", tmp_path / "c")  # fmt: skip
    assert result.returncode == 2 and "not among ssl.methods x ssl.seeds" in result.stderr
    inputs = ["--pretraining", features, "--speech", tmp_path, "--datasets", tmp_path]
    random = ["ssl-probe", "--method", "random", "--seed", "0", "--model-dir", tmp_path]
    result = cli("--params", params, *random, *inputs, "--out", tmp_path / "p.json")
    assert result.returncode == 2 and "the baselines (random, log_mel) have none" in result.stderr
    vae = ["ssl-vae-probe", "--model", "beta_vae", "--seed", "0", "--speech", tmp_path]
    result = cli("--params", params, *vae, "--datasets", tmp_path, "--out", tmp_path / "v.json")
    assert result.returncode == 2 and "probes ssl.vae_family.models (vae)" in result.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "p.json").exists()
    assert not (tmp_path / "v.json").exists()


# --- the tiny pipeline's self-supervised stages ----------------------------------------


def test_the_pipeline_pretrains_probes_and_tabulates(reproduced: Path) -> None:
    """TINY: pretraining on Large's speakers 4-5 only (Small's and Medium's are 0-3), the
    encoder's weights alone in model.pt, every task probed at every fraction, the table."""
    ssl = reproduced / "artifacts" / "ssl"
    features = json.loads((ssl / "features" / "manifest.json").read_text())
    assert features["dataset_rows"] == [16, 24] and features["shape"][0] == 8  # 4 texts x speakers 4, 5
    model = torch.load(ssl / "models" / "bt" / "seed0" / "model.pt")
    assert all(name.startswith("body.") for name in model)  # the encoder, not the projector
    probes = json.loads((ssl / "probes" / "mbt_width" / "seed0.json").read_text())
    assert sorted(probes["tasks"]) == ["gender", "keyword", "speaker", "style"]
    for task in probes["tasks"].values():
        assert [p["fraction"] for p in task["points"]] == [0.01, 0.05, 0.1, 1.0]
        counts = [p["labelled"] for p in task["points"]]
        assert counts == sorted(counts) and all(0 <= p["accuracy"] <= 1 for p in task["points"])
    random = json.loads((ssl / "probes" / "random" / "seed0.json").read_text())
    assert random["encoder"] == {"weights": "as initialised", "seed": 0}
    table = pd.read_csv(ssl / "results.csv")
    trivial = ["active_duration", "level_duration_f0", "median_f0", "rms_level"]
    assert sorted(set(table["encoder"])) == sorted(
        ["bt", "invariance_only", "log_mel", "mbt_width", "random", "vae", *trivial]
    )
    assert len(table) == 10 * 4 * 4 and (table["seeds"] == 1).all()
    for name in trivial:  # the trivial features of the same clips, probed alike
        measured = json.loads((ssl / "probes" / name / "seed0.json").read_text())
        assert measured["encoder"]["weights"].startswith("none: ") and measured["seed"] == 0
        assert sorted(measured["tasks"]) == sorted(probes["tasks"])
    vae = json.loads((ssl / "probes" / "vae" / "seed0.json").read_text())
    assert vae["encoder"]["small"]["weights"].endswith("speech/small/models/vae/seed0/model.pt")
    assert sorted(vae["encoder"]) == ["medium", "small"] and sorted(vae["tasks"]) == sorted(probes["tasks"])
    log_mel = json.loads((ssl / "probes" / "log_mel" / "seed0.json").read_text())
    assert log_mel["encoder"] == {"weights": "none: each mel band's mean over time"}
    assert "**speaker** (chance" in (ssl / "results.md").read_text()
    page = (reproduced / "reports" / "ssl.html").read_text()
    assert "Accuracy against labelled clips" in page and "ssl_pretrain@bt-0" in page
    assert "Fine-tuning: accuracy against steps" in page
    for figure in ("labels.png", "steps.png"):
        assert (reproduced / "reports" / "ssl" / figure).stat().st_size > 10_000


def test_the_pipeline_fine_tunes_pretrained_and_scratch_encoders_alike(reproduced: Path) -> None:
    """TINY: mbt_width and scratch fine-tuned on speaker (Small) and style (Medium) at two
    fractions; both start from the same head, so only the encoder differs at step 0."""
    ssl = reproduced / "artifacts" / "ssl"
    runs = {
        name: json.loads((ssl / "finetune" / name / "seed0.json").read_text())
        for name in ("mbt_width", "scratch")
    }
    assert runs["scratch"]["encoder"] == {"weights": "as initialised", "seed": 0}
    assert runs["mbt_width"]["encoder"]["weights"].endswith("models/mbt_width/seed0/model.pt")
    for run in runs.values():
        assert sorted(run["tasks"]) == ["speaker", "style"]
        for task in run["tasks"].values():
            assert [p["fraction"] for p in task["points"]] == [0.5, 1.0] and task["evaluated"] <= 8
            for point in task["points"]:
                assert [at["step"] for at in point["curve"]] == [0, 2, 4]
                assert all(0 <= at["accuracy"] <= 1 for at in point["curve"])
    table = pd.read_csv(ssl / "finetune.csv")
    assert len(table) == 2 * 2 * 2 * 3 and set(table["encoder"]) == {"mbt_width", "scratch"}
    assert "**speaker**, fine-tuned: accuracy after 2 / 4 steps" in (ssl / "finetune.md").read_text()
    assert "fine-tuned: accuracy after 2 / 4 steps" in (reproduced / "README.md").read_text()


def test_the_pipeline_reads_every_encoder_out_on_syntone(reproduced: Path) -> None:
    """TINY: SynTone's 60 clips through the speech front-end (64 mels x 37 frames); every
    pretrained encoder, the untrained one and the log-mel read out on the same clips."""
    ssl = reproduced / "artifacts" / "ssl"
    manifest = json.loads((ssl / "transfer_features" / "manifest.json").read_text())
    assert manifest["shape"] == [60, 64, 37] and manifest["normalisation"]
    table = pd.read_csv(ssl / "transfer.csv")
    assert set(table["encoder"]) == {"bt", "mbt_width", "invariance_only", "random", "log_mel"}
    read_out, scored = (table[table["group"] == group] for group in ("read_out", "suite"))
    assert set(read_out["name"]) == {"waveform", "frequency_hz", "amplitude"} and len(read_out) == 5 * 3
    assert read_out.loc[read_out["name"] == "waveform", "mean"].between(0, 1).all()
    assert {"mig", "modularity", "dci_disentanglement", "dci_completeness"} <= set(scored["name"])
    assert scored["mean"].between(-1e-12, 1).all()  # float rounding may leave -1e-15 for a 0
    page = (reproduced / "reports" / "ssl.html").read_text()
    assert "Transfer: the speech encoders on SynTone" in page
    assert (ssl.parent.parent / "reports" / "ssl" / "transfer.png").stat().st_size > 10_000


def test_the_pipeline_tests_every_claim_it_has_numbers_for(reproduced: Path) -> None:
    """TINY has one seed and no mbt_l2: every test of bt or mbt_width runs, none can decide."""
    table = pd.read_csv(reproduced / "artifacts" / "ssl" / "claims.csv")
    assert set(table["claim"]) == {"accelerated learning", "transfer to SynTone", "not modular or compact",
                                   "MBT helps most with little data",
                                   "above hand-made features (a check, not a paper claim)",
                                   "above trivial features (a check, not a paper claim)"}  # fmt: skip
    assert set(table["b"]) == {"random", "bt", "log_mel", "level_duration_f0"}
    assert "mbt_l2" not in set(table["a"])  # bt: not tuned
    assert (table["verdict"] == "not testable (one seed)").all() and (table["seeds"] == 1).all()
    assert "**The abstract's claims**" in (reproduced / "README.md").read_text()
    assert 'id="claims"' in (reproduced / "reports" / "ssl.html").read_text()
