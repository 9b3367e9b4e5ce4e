"""Benchmark: the training step of the paper backbone (batch 64) against this machine's
measured peak, in one run.

* The ceiling is measured, not guessed: a 2048^3 float32 matrix product (sgemm) and a
  large 3x3 convolution in torch, GFLOP/s on one thread and on two.
* The step's work is counted: FLOPs per sample of forward + backward from
  `torch.utils.flop_counter`, so every row prints achieved GFLOP/s and % of the peak.
* Rows: the reference's data path (a spectrogram per item per step) beside precomputed
  features, 1 and 2 threads, contiguous and channels-last, and the committed configuration
  under torch.compile (`training.compile`, Inductor); then two 1-thread trainings
  running at once, each against a quiet 1-thread run (target: each >= 90 % of it - what
  the pipeline's one-thread-per-training, never-more-trainings-than-cores rule buys).

Targets (issue 20): step >= 70 % of the measured peak of its thread count; two concurrent
trainings >= 90 % of a quiet one.

    python bench/training_bench.py [--steps 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from record import record
from synaudio.features import frame_max_normalise, mel_transform
from synaudio.models.objectives import build_objective
from synaudio.params import Params
from synaudio.protocol import PAPER
from synaudio.studies.syntone import recipe
from synaudio.training import compile_backbone

BATCH = 64


def _setup(threads: int, channels_last: bool, compiled: bool = False):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    params = Params()
    backbone = recipe.backbone()(8)
    objective = build_objective(params.models["vae"], 8, 25_600, PAPER.loss)
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    if compiled:
        compile_backbone(backbone)
    return params, backbone, objective, torch.optim.Adam(backbone.parameters(), lr=1e-3)


def _step(backbone, objective, optimizer, x: torch.Tensor) -> None:
    loss = objective.losses(x, backbone)["loss"]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def samples_per_second(
    steps: int,
    threads: int,
    channels_last: bool,
    per_item_features: bool,
    start_at: float | None = None,
    compiled: bool = False,
) -> float:
    """Training-step throughput after 3 warm-up steps (compilation included in them);
    `start_at` (epoch seconds): wait until then before timing, so that concurrent processes
    time the same window."""
    params, backbone, objective, optimizer = _setup(threads, channels_last, compiled)
    mel = mel_transform(params.features, 16_000)
    clips = torch.rand(BATCH, 16_000) * 2 - 1
    ready = torch.rand(BATCH, 1, 128, 32)
    started = 0.0
    for step in range(steps + 3):
        if step == 3:
            if start_at is not None:
                time.sleep(max(0.0, start_at - time.time()))
            started = time.perf_counter()  # after warm-up
        if per_item_features:  # one clip at a time, as a map-style Dataset's __getitem__ would
            x = torch.stack([frame_max_normalise(mel(clip)) for clip in clips]).unsqueeze(1)
        else:
            x = ready
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        _step(backbone, objective, optimizer, x)
    return steps * BATCH / (time.perf_counter() - started)


def flops_per_sample() -> float:
    """Forward + backward FLOPs of one training step, per sample (matmuls and convolutions)."""
    _, backbone, objective, optimizer = _setup(1, channels_last=False)
    with FlopCounterMode(display=False) as counter:
        _step(backbone, objective, optimizer, torch.rand(BATCH, 1, 128, 32))
    return counter.get_total_flops() / BATCH


def peak_gflops(threads: int) -> dict[str, float]:
    """The practical peak on `threads` threads under this process's kernel pins: best of a
    few sgemm and conv runs."""
    torch.set_num_threads(threads)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    x, w = torch.rand(64, 64, 32, 32), torch.rand(64, 64, 3, 3)
    work = {
        "sgemm 2048^3": (lambda: a @ b, 2 * 2048**3),
        "conv 64x64ch 3x3 @ 32x32, batch 64": (
            lambda: torch.nn.functional.conv2d(x, w, padding=1),
            2 * 64 * 64 * 64 * 9 * 32 * 32,
        ),
    }
    best = {}
    for name, (run, flops) in work.items():
        run()  # warm-up
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        best[name] = flops / min(times) / 1e9
    return best


def _concurrent(steps: int) -> list[float]:
    """Two 1-thread trainings at once, each in its own process (as two DVC stages run),
    timing the same window: both start it at one wall-clock instant after their start-up."""
    start_at = time.time() + 15  # past both processes' imports and warm-up
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from training_bench import samples_per_second as s; print(s({steps}, 1, True, False, {start_at}))"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in processes]


def native_peak_gflops(threads: int) -> float:
    """The machine's own peak: the same runs in a process without the archive's kernel pins
    (SYNAUDIO_CPU_ISA=native - AVX-512 where the CPU has it, MKL's automatic branch)."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from training_bench import peak_gflops as p; print(max(p({threads}).values()))"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE")
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env={**environment, "SYNAUDIO_CPU_ISA": "native"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    peaks = {threads: peak_gflops(threads) for threads in (1, 2)}
    native = {threads: native_peak_gflops(threads) for threads in (1, 2)}
    per_sample = flops_per_sample()
    print("measured peak under the archive's pins (GFLOP/s, best of 5): " + "; ".join(
        f"{threads} thread(s): " + ", ".join(f"{name} {value:.0f}" for name, value in peak.items())
        for threads, peak in peaks.items()
    ) + "; without the pins (the machine's own): " + ", ".join(
        f"{threads} thread(s) {value:.0f}" for threads, value in native.items()
    ))  # fmt: skip
    print(
        "training step FLOPs (forward + backward, torch.utils.flop_counter): "
        f"{per_sample / 1e6:.0f} MFLOP/sample"
    )
    reference = samples_per_second(args.steps, 2, channels_last=False, per_item_features=True)
    rows = [("per-item spectrogram, 2 threads, contiguous (reference-style)", 2, reference)]
    for threads in (1, 2):
        for channels_last in (False, True):
            layout = "channels-last" if channels_last else "contiguous"
            rate = samples_per_second(args.steps, threads, channels_last, per_item_features=False)
            rows.append((f"precomputed features, {threads} thread(s), {layout}", threads, rate))
    compiled = samples_per_second(args.steps, 1, channels_last=True, per_item_features=False, compiled=True)
    rows.append(("precomputed features, 1 thread, channels-last, training.compile", 1, compiled))
    print(f"training step, paper backbone, batch {BATCH}, {args.steps} steps each (same run):")
    for name, threads, rate in rows:
        achieved = rate * per_sample / 1e9
        peak = max(peaks[threads].values())
        print(f"  {name:<62} {rate:7.0f} samples/s  {rate / reference:4.1f}x  "
              f"{achieved:5.1f} GFLOP/s = {achieved / peak:4.0%} of the {threads}-thread peak")  # fmt: skip
    quiet = rows[2][2]  # 1 thread, channels-last: the committed configuration
    achieved = quiet * per_sample / 1e9
    share = achieved / max(peaks[1].values())
    record("training_step", share, f"{quiet:.0f} samples/s x {per_sample / 1e6:.0f} MFLOP = {achieved:.0f} "
           f"GFLOP/s; peak {max(peaks[1].values()):.0f} pinned, {native[1]:.0f} unpinned "
           f"({achieved / native[1]:.0%} of it)")  # fmt: skip
    together = _concurrent(args.steps)
    print("two 1-thread trainings at once (separate processes), each vs the quiet 1-thread run: "
          + ", ".join(f"{rate:.0f} samples/s = {rate / quiet:.0%}" for rate in together)
          + " (target >= 90 %)")  # fmt: skip
    record("two_trainings", min(together) / quiet,
           " and ".join(f"{rate:.0f}" for rate in together) + f" vs {quiet:.0f} samples/s")  # fmt: skip


if __name__ == "__main__":
    main()
