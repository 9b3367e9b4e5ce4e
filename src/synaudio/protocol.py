"""The protocols as typed values: what differs between the SynTone paper's setup and ours.

A protocol is named in every manifest and evaluation (`name`); the code reads only the
switch it needs - the features their front-end and split, the objectives their loss
settings, the evaluation which latents it scores, the generator its time axis - never the
name. Every quirk of the reference code that the paper protocol replicates is a named
switch here that the corrected protocol turns off (README, "The paper protocol").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

FrontEnd = Literal["frame_max_mel", "log_mel", "peak_log_mel"]
Reduction = Literal["batch_sum", "per_sample_mean"]
Latents = Literal["sampled_all_clips", "posterior_means_held_out"]
SplitMethod = Literal["sklearn_shuffle", "permutation"]
Decoder = Literal["fixed", "calibrated"]
Budget = Literal["paper", "corrected"]


@dataclass(frozen=True)
class LossSettings:
    """How the objectives compute their terms (synaudio.models.objectives)."""

    reduction: Reduction  # reconstruction error: summed over the batch, or per-sample ELBO
    # beta-TCVAE's minibatch-stratified weights: "reference" fills them with a stride of
    # the batch size (columns 0 and 1, as the original beta-TCVAE code and SynTone's copy
    # of it do), "intended" builds Chen et al.'s matrix (the sample's own density at 1/N).
    mss_weights: Literal["reference", "intended"]
    # the z the TC estimate (beta-TCVAE) and the discriminator (FactorVAE) see: a fresh
    # draw from q(z|x), as the reference code takes, or the sample the decoder reconstructed
    tc_sample: Literal["fresh", "decoder"]
    # FactorVAE: "attached" lets the discriminator loss's gradient reach the encoder too
    # (the reference does not detach its input), "detached" trains the discriminator alone
    disc_input: Literal["attached", "detached"]
    # FactorVAE's discriminator weights: Kaiming-uniform for ReLU (the reference's, ~2.4x
    # PyTorch's default bound) or PyTorch's default Linear initialisation
    disc_init: Literal["kaiming_uniform", "default"]
    # p(x|z): "fixed" - the squared error itself, a Gaussian of variance 1/2 that on [0, 1]
    # features weighs the KL ~40x too much; "calibrated" - one variance for all pixels set
    # to the batch's mean squared error (Rybkin et al. 2021, the optimal sigma), floored
    decoder: Decoder
    # the regulariser's weight rises linearly from 0 to 1 over this fraction of the
    # training steps (0: full weight from the first step)
    kl_warmup: float


REFERENCE_LOSS = LossSettings("batch_sum", "reference", "fresh", "attached", "kaiming_uniform", "fixed", 0.0)
CLEAN_LOSS = LossSettings("per_sample_mean", "intended", "decoder", "detached", "default", "calibrated", 0.1)


@dataclass(frozen=True)
class Protocol:
    name: str
    # frame_max_mel: each frame / its max (erases amplitude); log_mel: dB, global scale;
    # peak_log_mel: dB relative to each clip's own peak (erases the clip's level)
    front_end: FrontEnd
    loss: LossSettings
    latents: Latents  # what the metrics score: sampled z of all clips, or held-out means
    reference_time_axis: bool  # the reference's t = linspace(0, duration, samples): 16000/15999 Hz scale
    # train / held-out clips: sklearn's train_test_split(random_state=seed) as the reference
    # calls it, or the archive's numpy permutation (both random, not stratified)
    split: SplitMethod
    budget: Budget  # the epochs it trains for: the paper's, or params' corrected_epochs
    data: str  # the protocol whose dataset and features it reads (dvc.yaml paths, stage names)


PAPER = Protocol(
    "paper", "frame_max_mel", REFERENCE_LOSS, "sampled_all_clips", True, "sklearn_shuffle",
    budget="paper", data="paper",
)  # fmt: skip
CORRECTED = Protocol(
    "corrected", "log_mel", CLEAN_LOSS, "posterior_means_held_out", False, "permutation",
    budget="corrected", data="corrected",
)  # fmt: skip
# The ablation ladder (README, "What the correction changes"): from the paper protocol to
# the corrected one, each rung changes one side - the data side (time axis, front-end,
# split) or the training side (loss settings and epoch budget) - and every rung is scored
# by the corrected evaluation. Rung 1 scores the paper checkpoints as they are.
RESCORED = replace(PAPER, name="rescored", latents="posterior_means_held_out")
FRONT_END_ONLY = replace(CORRECTED, name="front_end_only", loss=REFERENCE_LOSS, budget="paper")
LOSS_ONLY = replace(RESCORED, name="loss_only", loss=CLEAN_LOSS, budget="corrected")
PROTOCOLS = {p.name: p for p in (PAPER, CORRECTED, RESCORED, FRONT_END_ONLY, LOSS_ONLY)}
LADDER = (RESCORED, FRONT_END_ONLY, LOSS_ONLY, CORRECTED)  # rungs 1-4
DATA_PROTOCOLS = tuple(name for name, protocol in PROTOCOLS.items() if protocol.data == name)  # own datasets
# SynSpeech's level-normalised arm (issue 15): the corrected protocol on log-mels measured
# from each clip's own peak, so a probe cannot read a style or a gender from loudness
LEVEL_NORMALISED = replace(CORRECTED, name="level_normalised", front_end="peak_log_mel", data="corrected")
