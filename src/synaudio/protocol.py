"""The protocols as typed values: what differs between the SynTone paper's setup and ours.

A protocol is named in every manifest and evaluation (`name`); the code reads only the
switch it needs - the features their front-end, the objectives their loss reduction, the
evaluation which latents it scores, the generator its time axis - never the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FrontEnd = Literal["frame_max_mel", "log_mel"]
Reduction = Literal["batch_sum", "per_sample_mean"]
Latents = Literal["sampled_all_clips", "posterior_means_held_out"]


@dataclass(frozen=True)
class Protocol:
    name: str
    front_end: FrontEnd  # frame_max_mel: each frame / its max (erases amplitude); log_mel: dB, global scale
    reduction: Reduction  # reconstruction error: summed over the batch, or per-sample ELBO
    latents: Latents  # what the metrics score: sampled z of all clips, or held-out means
    reference_time_axis: bool  # the reference's t = linspace(0, duration, samples): 16000/15999 Hz scale


PAPER = Protocol("paper", "frame_max_mel", "batch_sum", "sampled_all_clips", reference_time_axis=True)
CORRECTED = Protocol(
    "corrected", "log_mel", "per_sample_mean", "posterior_means_held_out", reference_time_axis=False
)
PROTOCOLS = {protocol.name: protocol for protocol in (PAPER, CORRECTED)}
