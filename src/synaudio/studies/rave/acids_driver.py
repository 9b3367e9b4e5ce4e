"""The real RAVE (acids-rave 2.3.1) on SynSpeech clips - run by `synaudio rave-acids` inside
its own venv (`make acids-venv`), never imported by the archive: acids-rave pins packages
the archive's lock cannot hold (pytorch-lightning 1.9, scipy 1.10, numpy 1.26).

Three steps, each a sub-command reading and writing plain files (numpy, LMDB, JSON):

* ``lmdb``: the training clips (int16 rows of the dataset's audio.npy) concatenated in row
  order and cut into fixed chunks - what ``rave preprocess`` makes of a folder of audio
  files (its examples are chunks of one stream; our 3.5 s clips are shorter than one) -
  written as udls ``AudioExample`` records with RAVE's ``metadata.yaml``.
* ``train``: ``rave train`` itself (its ``scripts.train``), every random generator seeded
  first and data loaded in this process, so a run is repeatable on CPU.
* ``encode``: the trained model's posterior means and KL per clip (averaged over frames)
  and, on the held-out clips, RAVE's own spectral distance between a clip and the decoding
  of its means; the encoder and decoder weights exported without the discriminator.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

SCALE = 2**15 - 1  # RAVE's int16 scale (its dataset divides by it)
BATCH = 16  # clips per forward pass when encoding


def write_lmdb(args: argparse.Namespace) -> None:
    import lmdb
    import yaml
    from udls.generated import AudioExample

    audio = np.load(args.audio, mmap_mode="r")
    rows = np.load(args.rows)
    stream = np.concatenate([audio[row] for row in rows]).astype(np.int16)
    chunks = len(stream) // args.chunk
    args.out.mkdir(parents=True)
    env = lmdb.open(str(args.out), map_size=stream.nbytes * 2 + 2**26)
    with env.begin(write=True) as txn:
        for index in range(chunks):
            data = stream[index * args.chunk : (index + 1) * args.chunk]
            buffer = AudioExample.AudioBuffer(
                shape=(1, args.chunk), sampling_rate=args.sample_rate, data=data.tobytes(),
                precision=AudioExample.Precision.INT16,
            )  # fmt: skip
            txn.put(f"{index:08d}".encode(), AudioExample(buffers={"waveform": buffer}).SerializeToString())
    env.close()
    seconds = chunks * args.chunk / args.sample_rate
    (args.out / "metadata.yaml").write_text(
        yaml.safe_dump({"lazy": False, "channels": 1, "n_seconds": seconds, "sr": args.sample_rate})
    )
    print(
        f"lmdb: {len(rows)} clips -> {chunks} examples of {args.chunk} samples ({seconds:.0f} s): {args.out}"
    )


def train(args: argparse.Namespace) -> None:
    import torch
    from absl import app
    from scripts import train as rave_train

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    argv = [
        "rave-train", "--name", "synspeech", "--db_path", str(args.db), "--out_path", str(args.out),
        "--config", args.config, "--channels", "1", "--gpu", "-1", "--workers", "0",
        "--n_signal", str(args.n_signal), "--batch", str(args.batch), "--max_steps", str(args.steps),
        "--save_every", str(args.steps),  # the only checkpoint: the last step's (no validation runs)
        "--override", f"SAMPLING_RATE={args.sample_rate}",
        "--override", f"PHASE_1_DURATION={args.steps + 1}",  # never the adversarial phase
        "--progress" if sys.stderr.isatty() else "--noprogress",
    ]  # fmt: skip
    try:
        app.run(rave_train.main, argv=argv)
    except SystemExit as exc:  # absl ends every run with sys.exit
        if exc.code not in (None, 0):
            raise
    _write_curves(args.out)


def _write_curves(out: Path) -> None:
    """The scalars RAVE logged to TensorBoard (every 50 steps) as curves.json, for MLflow."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    curves = {}
    for events in sorted(out.rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            curves[tag] = [[event.step, event.value] for event in accumulator.Scalars(tag)]
    (out / "curves.json").write_text(json.dumps(curves) + "\n")


def _load(run: Path):
    """The RAVE of a training folder: its config.gin and its newest checkpoint."""
    import gin
    import rave
    import rave.core
    import torch

    config = rave.core.search_for_config(str(run))
    checkpoint = rave.core.search_for_run(str(run))
    if config is None or checkpoint is None:
        raise SystemExit(f"error: {run}: no config.gin or checkpoint; train first")
    gin.parse_config_file(config)
    model = rave.RAVE(n_channels=1)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"], strict=False)
    return model.eval(), Path(config), state["global_step"]


def _hop() -> int:
    """Samples per latent frame of the parsed configuration: bands x the encoder's ratios
    (clips are zero-padded to a whole number of frames)."""
    import gin

    return int(gin.query_parameter("%N_BAND") * np.prod(gin.query_parameter("%RATIOS")))


def encode(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    model, config, step = _load(next(args.run.glob("*/config.gin")).parent)
    audio = np.load(args.audio, mmap_mode="r")
    held_out = set(np.load(args.held_out).tolist())
    hop = _hop()
    codes, kl, distance = [], [], 0.0
    with torch.inference_mode():
        for start in range(0, len(audio), BATCH):
            rows = np.arange(start, min(start + BATCH, len(audio)))
            x = torch.from_numpy(audio[rows].astype(np.float32) / SCALE).unsqueeze(1)
            pad = (-x.shape[-1]) % hop
            z = model.encode(torch.nn.functional.pad(x, (0, pad)))
            mean, scale = z.chunk(2, 1)
            var = (torch.nn.functional.softplus(scale) + 1e-4) ** 2
            codes.append(mean.mean(-1).double().numpy())
            kl.append((0.5 * (mean**2 + var - var.log() - 1)).mean(-1).double().numpy())
            keep = [i for i, row in enumerate(rows) if row in held_out]
            if keep:
                decoded = model.decode(mean[keep])[..., : x.shape[-1]]
                distance += len(keep) * float(model.audio_distance(x[keep], decoded)["spectral_distance"])
            if start % (BATCH * 100) == 0:
                print(f"encode: {start + len(rows)} / {len(audio)} clips", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "codes.npy", np.concatenate(codes))
    np.save(args.out / "kl.npy", np.concatenate(kl))
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("discriminator.")}
    torch.save(weights, args.out / "model.pt")
    (args.out / "config.gin").write_text(config.read_text())
    distance /= len(held_out)
    summary = {"spectral_distance": distance, "global_step": step, "hop": hop}
    (args.out / "encode.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"encode: {len(audio)} clips -> {args.out} (held-out spectral distance {distance:.3f})")


# Each step's options (all required; acids.py passes them): name -> type.
STEPS = {
    "lmdb": (write_lmdb, {"audio": Path, "rows": Path, "chunk": int, "sample-rate": int, "out": Path}),
    "train": (train, {"db": Path, "out": Path, "config": str, "steps": int, "n-signal": int, "batch": int,
                      "sample-rate": int, "seed": int, "threads": int}),
    "encode": (encode, {"run": Path, "audio": Path, "held-out": Path, "threads": int, "out": Path}),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for step, (_, options) in STEPS.items():
        step_parser = sub.add_parser(step)
        for name, kind in options.items():
            step_parser.add_argument(f"--{name}", type=kind, required=True)
    args = parser.parse_args()
    STEPS[args.step][0](args)


if __name__ == "__main__":
    main()
