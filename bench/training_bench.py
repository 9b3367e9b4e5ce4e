"""Benchmark: training throughput of the paper backbone at batch 64, side by side with
a loop that recomputes the spectrogram for every item in every step (the reference's
data path), in one run.

Target (issue 4): ours >= 4x the per-item loop. The backbone needs ~120 MFLOP per sample
for forward + backward, so two AVX2 cores cap it near 1,300 samples/s; the fraction of
that ceiling is printed too.

    python bench/training_bench.py [--steps 30]
"""

from __future__ import annotations

import argparse
import time

import torch

from synaudio.features import frame_max_normalise, mel_transform
from synaudio.models.objectives import build_objective
from synaudio.params import validate
from synaudio.protocol import PAPER
from synaudio.studies.syntone import recipe

CEILING = 1300.0  # samples/s, from ~120 MFLOP per sample on 2 AVX2 cores


def samples_per_second(steps: int, threads: int, channels_last: bool, per_item_features: bool) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    params = validate({})
    backbone = recipe.backbone()(8)
    objective = build_objective(params.models["vae"], 8, 25_600, PAPER.reduction)
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(backbone.parameters(), lr=1e-3)
    mel = mel_transform(params.features, 16_000)
    clips = torch.rand(64, 16_000) * 2 - 1
    ready = torch.rand(64, 1, 128, 32)
    started = None
    for step in range(steps + 3):
        if step == 3:
            started = time.perf_counter()  # after warm-up
        if per_item_features:  # one clip at a time, as a map-style Dataset's __getitem__ would
            x = torch.stack([frame_max_normalise(mel(clip)) for clip in clips]).unsqueeze(1)
        else:
            x = ready
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = objective.losses(x, backbone)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * 64 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    reference = samples_per_second(args.steps, 2, channels_last=False, per_item_features=True)
    rows = [("per-item spectrogram, 2 threads, contiguous (reference-style)", reference)]
    for threads in (1, 2):
        for channels_last in (False, True):
            layout = "channels-last" if channels_last else "contiguous"
            rate = samples_per_second(args.steps, threads, channels_last, per_item_features=False)
            rows.append((f"precomputed features, {threads} thread(s), {layout}", rate))
    print(f"training step, paper backbone, batch 64, {args.steps} steps each (same run):")
    for name, rate in rows:
        print(
            f"  {name:<62} {rate:7.0f} samples/s  {rate / reference:4.1f}x  {rate / CEILING:4.0%} of ceiling"
        )


if __name__ == "__main__":
    main()
