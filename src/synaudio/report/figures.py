"""The report's figures (matplotlib, PNG): one function per figure, one shared style.

Every function takes plain arrays or tables and a path; none loads models or files,
so each figure can be checked on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or in the container

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}
PROTOCOL_COLOURS = {"paper": "#4c72b0", "corrected": "#dd8452", "published": "#222222"}
MEL_CMAP = "magma"


def _save(figure: plt.Figure, path: Path) -> Path:
    figure.savefig(path, bbox_inches="tight", metadata={"Software": None})  # no version stamp: stable bytes
    plt.close(figure)
    return path


def _mel(axis: plt.Axes, db: np.ndarray, title: str, vmin: float, vmax: float) -> matplotlib.image.AxesImage:
    axis.grid(False)
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return axis.imshow(db, origin="lower", aspect="auto", cmap=MEL_CMAP, vmin=vmin, vmax=vmax)


def metric_bars(table: pd.DataFrame, metrics: Sequence[str], labels: dict[str, str], path: Path) -> Path:
    """Per metric: paper-protocol and corrected bars per model, error bars = std, published marked."""
    models = list(dict.fromkeys(table["model"]))
    x = np.arange(len(models))
    rows = math.ceil(len(metrics) / 5)
    columns = math.ceil(len(metrics) / rows)  # at most 5 panels a row, rows evenly filled
    with plt.rc_context(STYLE):
        figure, grid = plt.subplots(
            rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False, layout="constrained"
        )
        axes = grid.ravel()
        for axis in axes[len(metrics) :]:
            axis.set_visible(False)
        for axis, metric in zip(axes, metrics, strict=False):
            rows = table[table["metric"] == metric].set_index("model").reindex(models)
            shown = [
                p for p in ("paper", "corrected") if f"{p}_mean" in rows and rows[f"{p}_mean"].notna().any()
            ]
            width = 0.76 / max(len(shown), 1)
            for index, protocol in enumerate(shown):
                offset = (index - (len(shown) - 1) / 2) * width
                axis.bar(
                    x + offset, rows[f"{protocol}_mean"], width * 0.95,
                    yerr=rows[f"{protocol}_std"].fillna(0), capsize=2,
                    color=PROTOCOL_COLOURS[protocol], label=f"{protocol} protocol",
                )  # fmt: skip
            if "published_mean" in rows and rows["published_mean"].notna().any():
                beside = width / 2 if len(shown) == 2 else 0  # on the paper-protocol bar
                axis.scatter(
                    x - beside, rows["published_mean"], marker="D", s=22, zorder=3,
                    color=PROTOCOL_COLOURS["published"], label="published",
                )  # fmt: skip
            axis.set_title(labels.get(metric, metric))
            axis.set_xticks(x, models, rotation=30, ha="right")
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
        return _save(figure, path)


def reconstructions(
    originals_db: Sequence[np.ndarray],
    reconstructions_db: Sequence[np.ndarray],
    original_audio: Sequence[np.ndarray],
    inverted_audio: Sequence[np.ndarray],
    labels: Sequence[str],
    sample_rate: int,
    path: Path,
    reconstruction_label: str = "reconstruction, Griffin-Lim phase",
) -> Path:
    """Rows: held-out clips. Original and reconstructed mel (dB), then 5 ms of both waveforms
    (`reconstruction_label` says where the reconstructed waveform's phase came from)."""
    vmax = max(float(np.max(d)) for d in (*originals_db, *reconstructions_db))
    vmin = min(float(np.min(d)) for d in originals_db)
    window = round(0.005 * sample_rate)
    t = np.arange(window) / sample_rate * 1000
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            len(labels), 3, figsize=(10, 2.0 * len(labels)), squeeze=False, layout="constrained",
            gridspec_kw={"width_ratios": [1, 1, 2.4]},
        )  # fmt: skip
        for row, label in enumerate(labels):
            first = row == 0
            image = _mel(axes[row][0], originals_db[row], "original" if first else "", vmin, vmax)
            axes[row][0].set_ylabel(label.replace(", ", "\n"), fontsize=8)
            _mel(axes[row][1], reconstructions_db[row], "reconstruction" if first else "", vmin, vmax)
            middle = original_audio[row].size // 2
            wave = axes[row][2]
            wave.plot(t, original_audio[row][middle : middle + window], lw=1, label="original audio")
            wave.plot(t, inverted_audio[row][middle : middle + window], lw=1, alpha=0.8,
                      label=reconstruction_label)  # fmt: skip
            wave.set_ylabel("amplitude")
            if first:
                wave.set_title("waveform, 5 ms from the middle of the clip")
                wave.legend(loc="upper right", fontsize=7, ncol=2)
        axes[-1][2].set_xlabel("ms")
        figure.colorbar(image, ax=axes[:, 1], label="mel power, dB", shrink=0.9)
        return _save(figure, path)


def mel_strip(images_db: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> Path:
    """Feature images side by side on one dB scale (decoded prior samples)."""
    vmax = max(float(np.max(d)) for d in images_db)
    vmin = min(float(np.min(d)) for d in images_db)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(images_db), figsize=(1.4 * len(images_db) + 1, 2.4), squeeze=False)
        for axis, image, title in zip(axes[0], images_db, titles, strict=True):
            shown = _mel(axis, image, title, vmin, vmax)
        figure.colorbar(shown, ax=axes[0], label="dB", shrink=0.9)
        return _save(figure, path)


def traversal(grid_db: np.ndarray, row_labels: Sequence[str], values: np.ndarray, path: Path) -> Path:
    """(dims, steps, mels, frames) decoded images: row i varies latent i alone from one base code."""
    dims, steps, mels, frames = grid_db.shape
    gap = 2
    canvas = np.full((dims * (mels + gap) - gap, steps * (frames + gap) - gap), np.nan)
    for i in range(dims):
        for j in range(steps):  # flipped so that low frequencies sit at the bottom of each cell
            top, left = i * (mels + gap), j * (frames + gap)
            canvas[top : top + mels, left : left + frames] = grid_db[i, j][::-1]
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(0.55 * steps + 2, 0.75 * dims + 0.8))
        axis.grid(False)
        image = axis.imshow(
            canvas, origin="upper", aspect="auto", cmap=MEL_CMAP,
            vmin=np.nanmin(grid_db), vmax=np.nanmax(grid_db), interpolation="nearest",
        )  # fmt: skip
        axis.set_yticks([i * (mels + gap) + mels / 2 for i in range(dims)], row_labels)
        axis.set_xticks(
            [j * (frames + gap) + frames / 2 for j in range(steps)], [f"{v:+.1f}" for v in values]
        )
        axis.set_xlabel("value of the row's latent (all others at the base clip's posterior mean)")
        figure.colorbar(image, ax=axis, label="dB", shrink=0.8)
        return _save(figure, path)


def kl_profiles(profiles: dict[str, dict[str, list[list[float]]]], threshold: float, path: Path) -> Path:
    """Per model: KL per latent dimension, sorted, paper (one seed) vs corrected (mean +- std of seeds)."""
    models = list(profiles)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            1, len(models), figsize=(2.7 * len(models), 2.6), squeeze=False, sharey=True
        )
        for axis, model in zip(axes[0], models, strict=True):
            for offset, protocol in ((-0.2, "paper"), (0.2, "corrected")):
                seeds = profiles[model].get(protocol)
                if not seeds:
                    continue
                ordered = np.sort(np.asarray(seeds), axis=1)[:, ::-1]
                x = np.arange(ordered.shape[1]) + 1
                label = (
                    "paper protocol" if protocol == "paper" else "corrected protocol, mean +- std of seeds"
                )
                axis.bar(
                    x + offset, ordered.mean(0), 0.38, yerr=ordered.std(0), capsize=2,
                    color=PROTOCOL_COLOURS[protocol], label=label,
                )  # fmt: skip
            axis.axhline(threshold, color="grey", ls="--", lw=0.8)
            axis.set_yscale("log")
            axis.set_title(model)
            axis.set_xlabel("latent, by decreasing KL")
        axes[0][0].set_ylabel("KL (nats), held-out clips")
        handles = {}
        for axis in axes[0]:
            handles.update(zip(*reversed(axis.get_legend_handles_labels()), strict=True))
        axes[0][-1].legend(handles.values(), handles.keys(), loc="upper right", fontsize=7)
        return _save(figure, path)


def training_curves(curves: dict[tuple[str, str, int], pd.DataFrame], path: Path) -> Path:
    """Rows: protocols (their losses are scaled differently); columns: models; lines: seeds."""
    protocols = list(dict.fromkeys(p for _, p, _ in curves))
    models = list(dict.fromkeys(m for m, _, _ in curves))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            len(protocols), len(models), figsize=(2.7 * len(models), 2.4 * len(protocols)), squeeze=False,
            layout="constrained",
        )  # fmt: skip
        drawn = {(protocols.index(p), models.index(m)) for m, p, _ in curves}
        for (row, column), axis in np.ndenumerate(axes):
            axis.set_visible((row, column) in drawn)
        for (model, protocol, seed), frame in curves.items():
            axis = axes[protocols.index(protocol)][models.index(model)]
            axis.plot(frame["epoch"], frame["loss"], marker=".", lw=1, label=f"seed {seed}",
                      color=PROTOCOL_COLOURS[protocol], alpha=0.5 + 0.5 / (1 + seed))  # fmt: skip
            axis.set_title(f"{model}, {protocol}")
            axis.set_xlabel("epoch")
        for row, protocol in enumerate(protocols):
            scale = "batch-summed" if protocol == "paper" else "per-sample"
            axes[row][0].set_ylabel(f"training loss ({scale})")
        return _save(figure, path)


def held_out_curves(curves: dict[tuple[str, str, int], pd.DataFrame], path: Path) -> Path:
    """Columns: models. Top: held-out ELBO per epoch, one line per seed; bottom: the KL of
    every latent dimension per epoch for the lowest seed (collapse shows as a line at 0)."""
    models = list(dict.fromkeys(m for m, _, _ in curves))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            2, len(models), figsize=(2.7 * len(models), 4.8), squeeze=False, layout="constrained"
        )
        for column, model in enumerate(models):
            runs = sorted((seed, frame) for (m, _, seed), frame in curves.items() if m == model)
            for seed, frame in runs:
                axes[0][column].plot(frame["epoch"], frame["heldout/elbo"], marker=".", lw=1,
                                     label=f"seed {seed}", alpha=0.5 + 0.5 / (1 + seed))  # fmt: skip
            axes[0][column].set_title(model)
            frame = runs[0][1]
            dims = sorted(c for c in frame.columns if c.startswith("heldout/kl_dim"))
            for name in dims:
                axes[1][column].plot(
                    frame["epoch"], frame[name], lw=1, label=name.removeprefix("heldout/kl_")
                )
            axes[1][column].set_xlabel("epoch")
        axes[0][0].set_ylabel("held-out ELBO (nats / clip)")
        axes[1][0].set_ylabel(f"KL per dimension, seed {runs[0][0]}")
        axes[0][-1].legend(fontsize=6)
        return _save(figure, path)


def amplitude_erasure(
    paper_db: Sequence[np.ndarray], corrected_db: Sequence[np.ndarray], amplitudes: Sequence[float],
    paper_change: float, corrected_change: float, path: Path,
) -> Path:  # fmt: skip
    """The same tone at several amplitudes through both front-ends: paper inputs are identical."""
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            2, len(amplitudes), figsize=(2.0 * len(amplitudes) + 1.5, 4.6), squeeze=False
        )
        for row, (images, name, change) in enumerate(
            (
                (paper_db, "paper front-end", paper_change),
                (corrected_db, "corrected front-end", corrected_change),
            )
        ):
            vmin = min(float(np.min(d)) for d in images)
            vmax = max(float(np.max(d)) for d in images)
            for column, (image, amplitude) in enumerate(zip(images, amplitudes, strict=True)):
                shown = _mel(axes[row][column], image, f"amplitude {amplitude:.2f}", vmin, vmax)
            axes[row][0].set_ylabel(f"{name}\nmax |change| {change:.3g}")
            figure.colorbar(shown, ax=axes[row], label="dB", shrink=0.9)
        return _save(figure, path)


def information_matrices(matrices: dict[str, np.ndarray], factor_names: Sequence[str], path: Path) -> Path:
    """Per model: I(z_k; factor) / H(factor) on held-out posterior means - which latent carries what.

    Panels sit in one row for up to 8 latents (SynTone); wider codes (SynSpeech's 16) get
    panels twice as wide, two to a row, so every latent keeps a readable column."""
    models = list(matrices)
    latents = next(iter(matrices.values())).shape[1]
    columns = len(models) if latents <= 8 else min(2, len(models))
    rows = -(-len(models) // columns)
    panel = 2.6 * max(1.0, latents / 8)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            rows, columns, figsize=(panel * columns + 1.5, max(2.3, 0.22 * len(factor_names) + 0.8) * rows),
            squeeze=False, sharey=True, layout="constrained",
        )  # fmt: skip
        for axis in axes.flat[len(models) :]:
            axis.set_visible(False)
        for axis, model in zip(axes.flat, models, strict=False):
            matrix = matrices[model]
            axis.grid(False)
            shown = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1, aspect="auto")
            axis.set_title(model)
            axis.set_yticks(range(len(factor_names)), factor_names)
            axis.tick_params(axis="y", labelleft=axis in axes[:, 0])
            axis.set_xticks(range(matrix.shape[1]), [f"z{k}" for k in range(matrix.shape[1])])
            for (j, k), value in np.ndenumerate(matrix):
                if value >= 0.1:
                    axis.text(k, j, f"{value:.1f}", ha="center", va="center", fontsize=6,
                              color="white" if value > 0.6 else "black")  # fmt: skip
        figure.colorbar(shown, ax=axes, label="normalised mutual information", shrink=0.9)
        return _save(figure, path)


def probe_bars(
    table: pd.DataFrame, path: Path, untrained: Sequence[str] = (),
    xlabel: str = "held-out accuracy (classes) or R² (voice parameters); black tick: chance",
) -> Path:  # fmt: skip
    """One version's linear probes: a bar per model within each factor (95 % interval over
    seeds), chance marked; `untrained` representations in greys.

    `table`: rows of a study's tables.aggregate (model, metric, group, mean, ci95, chance)."""
    probes = table[table["group"] == "probe"]
    factors = list(dict.fromkeys(probes["metric"]))
    models = list(dict.fromkeys(probes["model"]))
    height = 0.8 / len(models)
    colours = plt.get_cmap("tab10").colors
    greys = iter(("#555555", "#999999", "#cccccc", "#777777", "#bbbbbb", "#dddddd"))
    palette = {m: next(greys) if m in untrained else colours[k % len(colours)] for k, m in enumerate(models)}
    with plt.rc_context(STYLE):
        size = (8, 0.32 * len(factors) * len(models) + 1.2)
        figure, axis = plt.subplots(figsize=size, layout="constrained")
        for m, model in enumerate(models):
            rows = probes[probes["model"] == model].set_index("metric").reindex(factors)
            y = np.arange(len(factors)) + (m - (len(models) - 1) / 2) * height
            axis.barh(y, rows["mean"], height=height * 0.9, xerr=rows["ci95"].fillna(0), color=palette[model],
                      label=model, error_kw={"lw": 0.8})  # fmt: skip
        chance = probes.drop_duplicates("metric").set_index("metric").reindex(factors)["chance"]
        for j, value in enumerate(chance):
            if pd.notna(value):
                axis.plot([value, value], [j - 0.45, j + 0.45], color="black", lw=1.5)
        axis.set_yticks(range(len(factors)), [f.removeprefix("probe/") for f in factors])
        axis.invert_yaxis()
        axis.set_xlim(min(0.0, float(np.nanmin(probes["mean"]))), 1.0)
        axis.set_xlabel(xlabel)
        axis.legend(loc="lower right", fontsize=8)
        return _save(figure, path)


def accuracy_curves(
    table: pd.DataFrame, path: Path, *, x: str, xlabel: str, panel: str = "task", log_x: bool = False,
    untrained: Sequence[str] = (), dotted: Sequence[str] = (),
) -> Path:  # fmt: skip
    """Held-out accuracy against column `x`, one panel per value of column `panel`, one line
    per encoder (band: 95 % interval over seeds), chance dashed; `untrained` encoders in greys,
    `dotted` ones (another study's baselines) dotted.

    `table`: rows (encoder, <panel>, <x>, mean, ci95, chance)."""
    panels = list(dict.fromkeys(table[panel]))
    encoders = list(dict.fromkeys(table["encoder"]))
    colours = plt.get_cmap("tab10").colors
    greys = iter(("#666666", "#aaaaaa", "#888888", "#cccccc"))
    palette = {e: next(greys) if e in untrained else colours[k % len(colours)]
               for k, e in enumerate(encoders)}  # fmt: skip
    columns = min(len(panels), 4)
    rows = -(-len(panels) // columns)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.9 * rows), squeeze=False,
                                    layout="constrained")  # fmt: skip
        for axis, name in zip(axes.flat, panels, strict=False):
            part = table[table[panel] == name]
            for encoder in encoders:
                line = part[part["encoder"] == encoder].sort_values(x)
                if line.empty:
                    continue
                colour = palette[encoder]
                axis.plot(line[x], line["mean"], marker="o", ms=3, color=colour, label=encoder,
                          ls=":" if encoder in dotted else "-")  # fmt: skip
                band = line["ci95"].fillna(0)
                axis.fill_between(line[x], line["mean"] - band, line["mean"] + band, color=colour, alpha=0.15,
                                  lw=0)  # fmt: skip
            axis.axhline(part["chance"].iloc[0], color="black", ls="--", lw=0.8)
            if log_x:
                axis.set_xscale("log")
            axis.set_title(str(name))
            axis.set_xlabel(xlabel)
            axis.set_ylim(0, 1)
        for axis in axes.flat[len(panels) :]:
            axis.set_visible(False)
        for row in axes:
            row[0].set_ylabel("held-out accuracy (dashed: chance)")
        axes.flat[len(panels) - 1].legend(loc="lower right", fontsize=7)
        return _save(figure, path)


def similarity_heatmaps(
    matrices: dict[str, np.ndarray], labels: Sequence[str], path: Path, *, measure: str = "linear CKA"
) -> Path:
    """One panel per entry of `matrices` (title: its key), each a square matrix over `labels`
    (models or layers) with its values written in, on one 0-1 colour scale; None is blank."""
    names = list(matrices)
    columns = min(len(names), 4)
    rows = -(-len(names) // columns)
    side = max(2.4, 0.42 * len(labels) + 1.0)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(rows, columns, figsize=(side * columns + 1.2, side * rows), squeeze=False,
                                    layout="constrained")  # fmt: skip
        for axis in axes.flat[len(names) :]:
            axis.set_visible(False)
        for axis, name in zip(axes.flat, names, strict=False):
            matrix = np.asarray(matrices[name], dtype=float)
            axis.grid(False)
            shown = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
            axis.set_title(name)
            axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
            axis.set_yticks(range(len(labels)), labels, fontsize=7)
            for (j, k), value in np.ndenumerate(matrix):
                if not np.isnan(value):  # NaN: a pair without this layer, left blank
                    axis.text(k, j, f"{value:.2f}", ha="center", va="center", fontsize=6,
                              color="black" if value > 0.6 else "white")  # fmt: skip
        figure.colorbar(shown, ax=axes, label=measure, shrink=0.9)
        return _save(figure, path)


def layer_curves(table: pd.DataFrame, columns: dict[str, str], path: Path) -> Path:
    """One panel per entry of `columns` (column -> y label), the value against the layer
    (in forward order), one line per model: mean over seeds, band from the lowest to the
    highest seed. `table`: rows (model, seed, layer, depth, <columns>)."""
    layers = table.sort_values("depth").drop_duplicates("layer")["layer"].tolist()
    models = list(dict.fromkeys(table["model"]))
    colours = plt.get_cmap("tab10").colors
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.0), squeeze=False,
                                    layout="constrained")  # fmt: skip
        for axis, (column, label) in zip(axes.flat, columns.items(), strict=True):
            for k, model in enumerate(models):
                part = table[table["model"] == model].groupby("depth")[column]
                mean, low, high, colour = part.mean(), part.min(), part.max(), colours[k % len(colours)]
                axis.plot(mean.index, mean.to_numpy(), marker="o", ms=3, color=colour, label=model)
                axis.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=colour, alpha=0.15, lw=0)
            axis.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
            axis.set_ylabel(label)
            axis.set_ylim(0, 1.02)
        axes.flat[0].legend(fontsize=7)
        return _save(figure, path)


def epoch_curves(table: pd.DataFrame, column: str, label: str, path: Path) -> Path:
    """`column` against the training epoch (0: initialisation), one panel per model, one line
    per layer coloured by depth (light: first layer, dark: the posterior mean); the mean over
    seeds. `table`: rows (model, seed, epoch, layer, depth, <column>)."""
    models = list(dict.fromkeys(table["model"]))
    layers = table.sort_values("depth").drop_duplicates("layer")["layer"].tolist()
    colours = plt.get_cmap("viridis_r")(np.linspace(0.15, 1.0, len(layers)))
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, len(models), figsize=(3.0 * len(models), 2.8), squeeze=False,
                                    sharey=True, layout="constrained")  # fmt: skip
        for axis, model in zip(axes.flat, models, strict=True):
            part = table[table["model"] == model]
            for colour, layer in zip(colours, layers, strict=True):
                curve = part[part["layer"] == layer].groupby("epoch")[column].mean()
                axis.plot(curve.index, curve.to_numpy(), marker="o", ms=2, color=colour, label=layer)
            axis.set_title(model)
            axis.set_xlabel("epoch")
            axis.set_ylim(0, 1.02)
        axes.flat[0].set_ylabel(label)
        axes.flat[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        return _save(figure, path)
