"""Benchmark: one self-supervised pretraining step (two views of a batch of 256 log-mels,
encoder + projector forward and backward, AdamW) on one thread, for the committed encoder
(params ssl.channels) beside one twice as wide - the measurement that sized the study
(README: self-supervised, scale as run). Prints clips/s and the minutes an epoch of the
87,560 pretraining clips would take.

    python bench/ssl_bench.py [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from synaudio.params import load_params
from synaudio.studies.ssl.networks import network
from synaudio.studies.ssl.objectives import barlow_twins_loss
from synaudio.studies.ssl.views import two_views

PRETRAINING_CLIPS = 87_560


def clips_per_second(channels: list[int], steps: int) -> float:
    settings = load_params("params.yaml").ssl.model_copy(update={"channels": channels})
    torch.manual_seed(0)
    twins = network(settings)
    optimiser = torch.optim.AdamW(twins.parameters(), lr=settings.lr)
    x = torch.rand(settings.batch_size, 64, 128)
    for step in range(steps + 1):
        if step == 1:  # the first step warms the allocator up
            started = time.perf_counter()
        a, b = two_views(x, settings.views, 80.0)
        za, zb = twins(a.unsqueeze(1)), twins(b.unsqueeze(1))
        loss = barlow_twins_loss(za, zb, lambda_=1 / za.shape[1])["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return steps * settings.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    committed = load_params("params.yaml").ssl.channels
    for channels in (committed, [2 * c for c in committed]):
        rate = clips_per_second(channels, args.steps)
        print(f"ssl pretraining step, channels {channels}, 1 thread: {rate:.0f} clips/s, "
              f"an epoch of {PRETRAINING_CLIPS:,} clips {PRETRAINING_CLIPS / rate / 60:.0f} min")  # fmt: skip


if __name__ == "__main__":
    main()
