"""The paper protocol's replicated quirks of the reference code: each a named switch of
`synaudio.protocol.LossSettings` (or the protocol's split) that the corrected protocol turns
off, each with a test that shows what it changes - and the corrected protocol's own
settings (calibrated decoder, KL warm-up) and the ablation ladder between the two."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from synaudio.features import split_rows
from synaudio.models.backbone import ConvVAE
from synaudio.models.objectives import (
    VARIANCE_FLOOR,
    build_objective,
    reference_stratified_log_weights,
    stratified_log_weights,
)
from synaudio.models.presets import SYNTONE
from synaudio.models.specs import BetaTCVAESpec, FactorVAESpec, VAESpec
from synaudio.params import Split
from synaudio.protocol import (
    CLEAN_LOSS,
    CORRECTED,
    FRONT_END_ONLY,
    LADDER,
    LOSS_ONLY,
    PAPER,
    REFERENCE_LOSS,
    RESCORED,
)

BATCH, DIMS, TRAIN = 64, 8, 25_600


class FixedCode(nn.Module):
    """A stand-in encoder output: the TC estimators see only (z, mean, log_var)."""

    def __init__(self, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> None:
        super().__init__()
        self.out = {"z": z, "mean": mean, "log_var": log_var}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**self.out, "reconstruction": x}


def _code(sigma: float = 0.3) -> FixedCode:
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(BATCH, DIMS, generator=generator)
    log_var = torch.full_like(mean, math.log(sigma**2))
    z = mean + sigma * torch.randn(BATCH, DIMS, generator=generator)
    return FixedCode(z, mean, log_var)


def _tcvae(settings, code: FixedCode, seed: int = 1) -> dict[str, float]:
    objective = build_objective(BetaTCVAESpec(objective="beta_tcvae"), DIMS, TRAIN, settings)
    torch.manual_seed(seed)
    losses = objective.losses(torch.zeros(BATCH, 1, 2, 2), code)
    return {name: float(value) for name, value in losses.items()}


def test_every_loss_switch_is_on_under_paper_and_off_under_corrected() -> None:
    assert PAPER.loss == REFERENCE_LOSS and CORRECTED.loss == CLEAN_LOSS
    for field in dataclasses.fields(REFERENCE_LOSS):
        assert getattr(REFERENCE_LOSS, field.name) != getattr(CLEAN_LOSS, field.name), field.name
    assert (PAPER.split, CORRECTED.split) == ("sklearn_shuffle", "permutation")


def test_reference_stratified_weights_fill_columns_not_the_diagonal() -> None:
    n, m = TRAIN, BATCH - 1
    reference = reference_stratified_log_weights(BATCH, n, torch.device("cpu")).exp()
    intended = stratified_log_weights(BATCH, n, torch.device("cpu")).exp()
    stratum = (n - m) / (n * m)
    assert torch.allclose(intended.diagonal(), torch.full((BATCH,), 1 / n))
    assert torch.allclose(reference[:, 1], torch.full((BATCH,), stratum))
    assert torch.allclose(reference[torch.arange(BATCH) != m - 1, 0], torch.full((BATCH - 1,), 1 / n))
    assert torch.allclose(reference.diagonal()[2:], torch.full((BATCH - 2,), 1 / m))  # own density: 1/M
    assert intended[5, 5] != reference[5, 5] and intended[5, 0] != reference[5, 0]


def test_reference_weights_move_the_mi_and_tc_estimates_by_nats() -> None:
    """On a batch with posterior sigma 0.3 in 8 dimensions (issue 14 measured MI 10.1 nats
    intended vs 4.2 reference, TC 0.7 vs 5.7), with the decoder's sample for both so only
    the weights differ: the reference gives each sample's own density weight 1/M, not 1/N,
    so q(z) is overestimated where the sample sits."""
    code = _code()
    reference = _tcvae(dataclasses.replace(REFERENCE_LOSS, tc_sample="decoder"), code)
    intended = _tcvae(dataclasses.replace(CLEAN_LOSS, reduction="batch_sum"), code)
    assert intended["mi"] - reference["mi"] > 3.0
    assert reference["tc"] - intended["tc"] > 3.0


def test_fresh_tc_sample_ignores_the_decoders_z() -> None:
    """ "fresh" draws its own z from q(z|x): the decoder's sample does not enter the TC
    terms; "decoder" uses exactly that sample."""
    code, moved = _code(), _code()
    moved.out["z"] = moved.out["z"] + 5.0
    fresh = dataclasses.replace(REFERENCE_LOSS, mss_weights="intended")
    assert _tcvae(fresh, code) == _tcvae(fresh, moved)
    decoder = dataclasses.replace(fresh, tc_sample="decoder")
    assert _tcvae(decoder, code)["tc"] != _tcvae(decoder, moved)["tc"]


def _factor_vae(settings):
    torch.manual_seed(0)
    spec = FactorVAESpec(objective="factor_vae", disc_hidden=32, disc_layers=2)
    objective = build_objective(spec, DIMS, TRAIN, settings)
    backbone = ConvVAE(DIMS, n_mels=128, frames=32, preset=SYNTONE)
    losses = objective.losses(torch.rand(8, 1, 128, 32), backbone)
    encoder = list(backbone.encoder.parameters())
    return objective, torch.autograd.grad(losses["aux_loss"], encoder, allow_unused=True)


def test_attached_discriminator_input_sends_its_loss_into_the_encoder() -> None:
    _, attached = _factor_vae(REFERENCE_LOSS)
    _, detached = _factor_vae(CLEAN_LOSS)
    assert any(g is not None and g.abs().sum() > 0 for g in attached)
    assert all(g is None for g in detached)


def test_kaiming_discriminator_weights_are_about_2_4_times_the_default() -> None:
    spec = FactorVAESpec(objective="factor_vae")
    spread = {}
    for settings in (REFERENCE_LOSS, CLEAN_LOSS):
        torch.manual_seed(0)
        objective = build_objective(spec, DIMS, TRAIN, settings)
        spread[settings.disc_init] = float(
            objective.discriminator[2].weight.detach().abs().max()
        )  # 1000 -> 1000
    bound = {"kaiming_uniform": math.sqrt(6 / 1000), "default": 1 / math.sqrt(1000)}
    for name, value in spread.items():
        assert value == pytest.approx(bound[name], rel=1e-3)
    assert spread["kaiming_uniform"] / spread["default"] == pytest.approx(math.sqrt(6), rel=1e-2)


def test_paper_split_is_sklearns_shuffle_split_with_the_same_seed() -> None:
    """sklearn's train_test_split(random_state=42) holds out the first 20 % of
    RandomState(42).permutation(n); the archive's permutation shares 1,256 of 6,400."""
    train, test = split_rows(32_000, Split(), "sklearn_shuffle")
    expected = np.sort(np.random.RandomState(42).permutation(32_000)[:6_400])
    assert np.array_equal(test, expected)
    assert train.size == 25_600 and np.intersect1d(train, test).size == 0
    _, ours = split_rows(32_000, Split(), "permutation")
    assert np.intersect1d(ours, test).size == 1_256


class Reconstructs(nn.Module):
    """A stand-in VAE whose reconstruction is x + `error` and whose code is fixed."""

    def __init__(self, error: float) -> None:
        super().__init__()
        self.error = error

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = torch.ones(x.shape[0], 2)
        return {"reconstruction": x + self.error, "mean": mean, "log_var": torch.zeros_like(mean), "z": mean}


def _vae(settings, error: float, weight: float = 1.0) -> dict[str, float]:
    objective = build_objective(VAESpec(objective="vae", beta=1.0), 2, TRAIN, settings)
    losses = objective.losses(torch.zeros(4, 1, 8, 8), Reconstructs(error), weight)
    return {name: float(value) for name, value in losses.items()}


def test_calibrated_decoder_is_the_gaussian_likelihood_at_the_batch_mse() -> None:
    """Error 0.1 on every pixel: variance 0.01, so -log p = 64 * (0.01 / 0.02 + log(2 pi 0.01) / 2)
    per clip - the squared error weighs 50x what the fixed decoder gives it (1x), which is
    what lets the KL stop dominating on [0, 1] features."""
    fixed = _vae(dataclasses.replace(CLEAN_LOSS, decoder="fixed"), 0.1)
    calibrated = _vae(CLEAN_LOSS, 0.1)
    assert fixed["reconstruction"] == pytest.approx(64 * 0.01)
    assert calibrated["decoder_variance"] == pytest.approx(0.01)
    assert calibrated["reconstruction"] == pytest.approx(
        64 * (0.5 + 0.5 * math.log(2 * math.pi * 0.01)), rel=1e-5
    )
    perfect = _vae(CLEAN_LOSS, 0.0)  # a perfect batch: the floor keeps the likelihood finite
    assert perfect["decoder_variance"] == pytest.approx(VARIANCE_FLOOR)
    assert math.isfinite(perfect["loss"])


def test_warm_up_scales_only_the_regulariser() -> None:
    full, cold = _vae(CLEAN_LOSS, 0.1), _vae(CLEAN_LOSS, 0.1, weight=0.0)
    assert cold["loss"] == pytest.approx(cold["reconstruction"])
    assert full["loss"] == pytest.approx(full["reconstruction"] + full["kl"])
    assert cold["kl"] == full["kl"] > 0


def test_each_ladder_rung_changes_one_side_of_the_paper_protocol() -> None:
    """Rung 1 only scores differently; rung 2 takes the corrected data side, rung 3 the
    corrected training side; rung 4 is the corrected protocol. All share its evaluation."""
    data_side = ("front_end", "reference_time_axis", "split", "data")
    training_side = ("loss", "budget")
    assert LADDER == (RESCORED, FRONT_END_ONLY, LOSS_ONLY, CORRECTED)
    assert {rung.latents for rung in LADDER} == {CORRECTED.latents}
    assert dataclasses.replace(RESCORED, name="paper", latents=PAPER.latents) == PAPER

    def differs(a, b) -> set[str]:
        return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)} - {"name"}

    assert differs(FRONT_END_ONLY, RESCORED) == set(data_side)
    assert differs(LOSS_ONLY, RESCORED) == set(training_side)
    assert differs(CORRECTED, RESCORED) == set(data_side + training_side)
