"""Layer by layer, the VAE family on the same held-out clips (issue 18).

Two analyses share this code: the speech benchmark's models (params analyses.layers, one
SynSpeech version's held-out clips; beside them the self-supervised encoders and the
RAVE-style waveform model, whose blocks are its strided stages) and the SynTone models of
both protocols (params analyses.syntone_layers, named `<protocol>/<model>`, on the clips the
corrected protocol holds out, each protocol's models reading them through their own front-end). Every model
(objective x seed) encodes the same `clips` clips; each analysed layer - every conv
block's pooled output, both dense layers, the posterior mean - gives, per model:

* **saturation** (synaudio.models.saturation): principal directions for 99 % of the
  variance over the width, channel-wise for the conv blocks;
* **layer probes**: a multinomial logistic probe per factor, fitted on 75 % of the clips and
  scored on the rest (seeded), on the layer's units - for a conv block its channels' mean
  and standard deviation over positions, so every layer gets a probe of a few hundred inputs;
* its **Gram matrix** over the clips (the flattened output, every unit), from which linear
  CKA compares any two layers of any two models on the same clips;

and at the posterior mean, **InfoMEC** (metrics/infomec.py) against the probed factors.

The SynTone front-end is computed here from the dataset (byte-identical on every CPU) with
the features stage's own code, not read from features@<protocol>: those bytes differ between
CPU kinds (README, "What is guaranteed"), and regenerating them on another kind would make
every committed SynTone training stale.

Similarity across models compares only pairs of different seeds: two objectives started
from one seed share their initial weights, which alone makes them alike. With one seed
(the tiny test) same-seed pairs are all there is, and the output says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations, combinations_with_replacement
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from synaudio.errors import UserError
from synaudio.features import in_scale, load_features
from synaudio.metrics import similarity
from synaudio.metrics.infomec import infomec
from synaudio.metrics.softmax import fit_softmax
from synaudio.models.saturation import StreamingCovariance, channel_rows, explained_dimension
from synaudio.models.speech_encoder import SpeechEncoder, load_encoder
from synaudio.params import Features, LayerSettings, Params
from synaudio.protocol import Protocol
from synaudio.store import load_dataset
from synaudio.training_config import BackboneFactory

BATCH = 250  # clips a forward pass
INFOMEC = ("infom", "infoe", "infoc", "active_codes")
TRAIN_SHARE = 0.75  # of the analysed clips, for the layer probes


def layer_outputs(encoder: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, output) of every analysed layer of an encoder, in forward order: block1..blockN
    after each max-pool; then for a VAE-family encoder dense1 and dense2 after their
    activations and the posterior mean, for the self-supervised encoder its global
    average (embedding)."""
    blocks = dense = 0
    layers = list(encoder.body)
    for index, layer in enumerate(layers):
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            blocks += 1
            yield f"block{blocks}", x
        elif isinstance(layers[index - 1], nn.Linear) and not isinstance(layer, nn.Linear):
            dense += 1
            yield f"dense{dense}", x
    if isinstance(encoder, SpeechEncoder):
        yield "embedding", x.mean(dim=(-2, -1))
    else:
        yield "mean", encoder.mean(x)


def waveform_layer_outputs(encoder: nn.Module, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    """The same for the RAVE-style encoder (PQMF bank, then stages of residual units each
    ending in a strided convolution): blockK after the K-th strided convolution, then the
    posterior mean averaged over the clip's latent frames - the code its study scores."""
    blocks = 0
    x = encoder.pqmf(x)
    for layer in encoder.net:
        x = layer(x)
        if isinstance(layer, nn.Conv1d) and layer.stride[0] > 1:
            blocks += 1
            yield f"block{blocks}", x
    yield "mean", x.chunk(2, dim=1)[0].mean(dim=2)


def pooled(output: torch.Tensor) -> torch.Tensor:
    """A conv output's channel means and standard deviations over positions; a dense one as is."""
    if output.dim() == 2:
        return output
    flat = output.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2, correction=0)], dim=1)


@dataclass
class LayerRecord:
    """What one layer of one model gives: Gram matrix, channel covariance, probe inputs."""

    gram: np.ndarray  # (clips, clips), float64, of the flattened outputs
    covariance: StreamingCovariance
    probe_inputs: np.ndarray  # (clips, units), float64
    units: int  # flattened width


LayerOutputs = Callable[[nn.Module, torch.Tensor], Iterator[tuple[str, torch.Tensor]]]


@torch.inference_mode()
def record(
    encoder: nn.Module, features: np.ndarray, outputs: LayerOutputs = layer_outputs
) -> dict[str, LayerRecord]:
    """Every analysed layer of `encoder` (read by `outputs`) over the clips `features`
    ((clips, mels, frames), or (clips, samples) for the waveform encoder); the last one is its
    representation (a VAE's posterior mean, the SSL encoder's embedding)."""
    encoder.eval()
    flattened: dict[str, list[torch.Tensor]] = {}
    records: dict[str, LayerRecord] = {}
    probes: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(features), BATCH):
        x = torch.from_numpy(np.asarray(features[start : start + BATCH], dtype=np.float32)).unsqueeze(1)
        for name, output in outputs(encoder, x):
            if name not in records:
                records[name] = LayerRecord(np.empty(0), StreamingCovariance(), np.empty(0), 0)
            records[name].covariance.update(channel_rows(output))
            flattened.setdefault(name, []).append(output.flatten(1))
            probes.setdefault(name, []).append(pooled(output))
    for name, layer in records.items():
        flat = torch.cat(flattened.pop(name)).to(torch.float64)
        layer.gram, layer.units = (flat @ flat.T).numpy(), flat.shape[1]
        layer.probe_inputs = torch.cat(probes[name]).to(torch.float64).numpy()
    return records


def probe_split(clips: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The layer probes' fitting and scoring clips (positions in the analysed subset)."""
    order = np.random.default_rng(seed).permutation(clips)
    cut = round(TRAIN_SHARE * clips)
    return np.sort(order[:cut]), np.sort(order[cut:])


def probe_accuracy(x: np.ndarray, labels: np.ndarray, split: tuple[np.ndarray, np.ndarray]) -> float:
    train, test = split
    scaler = StandardScaler().fit(x[train])
    model = fit_softmax(scaler.transform(x[train]), labels[train])
    return float(np.mean(model.predict(scaler.transform(x[test])) == labels[test]))


def layer_rows(records: dict[str, LayerRecord], labels: pd.DataFrame, split: tuple) -> list[dict[str, Any]]:
    """One row per layer: width, explained dimension, saturation, probe accuracy per factor."""
    rows = []
    for depth, (name, layer) in enumerate(records.items()):
        covariance = layer.covariance.matrix()
        dimension = explained_dimension(covariance)
        rows.append({
            "layer": name, "depth": depth, "units": layer.units,
            "channels": covariance.shape[0], "dimension": dimension,
            "saturation": dimension / covariance.shape[0],
            **{f"probe_{factor}": probe_accuracy(layer.probe_inputs, labels[factor].to_numpy(), split)
               for factor in labels.columns},
        })  # fmt: skip
    return rows


def cka_matrix(grams: dict[str, np.ndarray], layers: list[str]) -> list[list[float | None]]:
    """Linear CKA between every pair of `layers` (symmetric, ones on the diagonal); None
    where the model has no such layer."""
    out: list[list[float | None]] = [[None] * len(layers) for _ in layers]
    for i, j in combinations_with_replacement(range(len(layers)), 2):
        if layers[i] in grams and layers[j] in grams:
            value = 1.0 if i == j else similarity.cka_of_grams(grams[layers[i]], grams[layers[j]])
            out[i][j] = out[j][i] = value
    return out


def seed_pairs(first: list[int], second: list[int]) -> list[tuple[int, int]]:
    """The (seed, seed) pairs two models are compared over: different seeds, or with no such
    pair (one seed only) the seeds they share."""
    return [(a, b) for a in first for b in second if a != b] or [(s, s) for s in first if s in second]


def similarity_tables(
    models: list[str],
    seeds: dict[str, list[int]],
    grams: dict[tuple[str, int], dict[str, np.ndarray]],
    means: dict,
) -> dict[str, Any]:
    """From the Gram matrices of every (model, seed of that model) and layer - the union of
    the models' layers, in forward order; an entry is None where a model lacks the layer:

    * `across`: per layer, model x model linear CKA, each entry the mean over seed_pairs (the
      diagonal: a model against itself at another seed);
    * `within`: per model at its first seed, layer x layer linear CKA;
    * `latent`: model x model at the representations (each model's last layer), by every
      measure of metrics.similarity (the mean over the same pairs).
    """
    layers = list(dict.fromkeys(layer for per_model in grams.values() for layer in per_model))
    pairs = {(m, n): seed_pairs(seeds[m], seeds[n]) for m in models for n in models}
    across = {}
    for layer in layers:
        matrix: list[list[float | None]] = [[None] * len(models) for _ in models]
        for i, m in enumerate(models):
            for j, n in enumerate(models[i:], start=i):
                if layer in grams[m, seeds[m][0]] and layer in grams[n, seeds[n][0]]:
                    values = [
                        similarity.cka_of_grams(grams[m, a][layer], grams[n, b][layer])
                        for a, b in pairs[m, n]
                    ]
                    matrix[i][j] = matrix[j][i] = float(np.mean(values))
        across[layer] = matrix
    within = {m: cka_matrix(grams[m, seeds[m][0]], layers) for m in models}
    measures = {
        "linear_cka": similarity.linear_cka,
        "debiased_cka": lambda x, y: similarity.linear_cka(x, y, debiased=True),
        "rbf_cka": similarity.rbf_cka,
        "svcca": similarity.svcca,
        "max_neuron_correlation": similarity.max_neuron_correlation,
    }
    different = all(first[0] != first[1] for first in (p[0] for p in pairs.values()))
    latent = {}
    for measure, function in measures.items():
        matrix = np.zeros((len(models), len(models)))
        for i, m in enumerate(models):
            for j, n in enumerate(models):
                matrix[i, j] = float(np.mean([function(means[m, a], means[n, b]) for a, b in pairs[m, n]]))
        latent[measure] = matrix.tolist()
    return {
        "models": models, "seeds": seeds, "layers": layers,
        "pairs": "different seeds" if different else "the same seed (one seed only)",
        "across": across, "within": within, "latent": latent,
    }  # fmt: skip


def analysed_clips(held_out: np.ndarray, settings: LayerSettings, what: str) -> np.ndarray:
    """`settings.clips` of the held-out rows, drawn with `settings.seed` (sorted)."""
    if settings.clips > len(held_out):
        raise UserError(
            f"{what}.clips: {settings.clips} exceeds the {len(held_out)} held-out clips; lower it"
        )
    return np.sort(np.random.default_rng(settings.seed).choice(held_out, settings.clips, replace=False))


def probe_labels(
    factors: pd.DataFrame, clips: np.ndarray, settings: LayerSettings, what: str
) -> pd.DataFrame:
    """Class codes per probed factor of the analysed clips: categories in sorted order, or
    for a factor in `settings.bins`, its grid index in that many equal bins of the grid."""
    unknown = [f for f in settings.factors if f not in factors.columns]
    if unknown:
        raise UserError(f"{what}.factors: {unknown} are not factors ({', '.join(factors.columns)})")
    labels = {}
    for factor in settings.factors:
        column = factors[factor]
        values = column.to_numpy()[clips]
        if factor in settings.bins:
            if not pd.api.types.is_integer_dtype(column):
                raise UserError(f"{what}.bins: {factor} is not a grid index (integers); bin an *_idx factor")
            values = values * settings.bins[factor] // (int(column.max()) + 1)
        labels[factor] = pd.factorize(values, sort=True)[0]
    return pd.DataFrame(labels)


@dataclass
class Subject:
    """Models that read the same clips through one front-end, in `models`/<model>/seed<k>;
    `load` gives the encoder a model's folder holds."""

    prefix: str  # of the models' names in the tables ("" for none)
    names: list[str]  # the models
    inputs: np.ndarray  # (clips, mels, frames), the analysed clips; (clips, samples) for waveforms
    load: Callable[[Path], nn.Module]
    models: Path
    seeds: list[int] | None = None  # the models' seeds, where not all of the analysis's are trained
    folder: str = "{model}/seed{seed}"  # a model's folder under `models`
    outputs: LayerOutputs = layer_outputs  # how its encoder's analysed layers are read


def vae_encoder(network: BackboneFactory, latent_dim: int) -> Callable[[Path], nn.Module]:
    """A VAE-family model folder's encoder."""
    from synaudio.inference import load_backbone

    return lambda folder: load_backbone(folder, latent_dim, network).encoder


def ssl_encoder(channels: tuple[int, ...]) -> Callable[[Path], nn.Module]:
    """A self-supervised model folder's encoder (its model.pt holds the encoder alone)."""
    from synaudio.inference import MODEL_FILE

    def load(folder: Path) -> nn.Module:
        try:
            return load_encoder(folder / MODEL_FILE, channels)
        except (OSError, RuntimeError) as exc:
            raise UserError(
                f"{folder}: no encoder of the current ssl settings ({type(exc).__name__}); "
                "re-make it with dvc repro ssl_pretrain"
            ) from None

    return load


def analyse_models(
    subjects: list[Subject], labels: pd.DataFrame, settings: LayerSettings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-layer rows of every subject's models (at settings.seeds), the similarity tables
    across all of them, and InfoMEC at each model's representation (its last layer)."""
    probes = probe_split(len(labels), settings.seed)
    rows, grams, means, information, seeds = [], {}, {}, [], {}
    for subject in subjects:
        for model in subject.names:
            name = f"{subject.prefix}/{model}" if subject.prefix else model
            seeds[name] = subject.seeds or settings.seeds
            for seed in seeds[name]:
                folder = subject.models / subject.folder.format(model=model, seed=seed)
                records = record(subject.load(folder), subject.inputs, subject.outputs)
                rows += [{"model": name, "seed": seed, **row} for row in layer_rows(records, labels, probes)]
                grams[name, seed] = {layer: r.gram for layer, r in records.items()}
                means[name, seed] = records[list(records)[-1]].probe_inputs
                scores = infomec(labels.to_numpy(), means[name, seed], seed=settings.seed)
                information.append({"model": name, "seed": seed, **{k: scores[k] for k in INFOMEC}})
    tables = similarity_tables(list(seeds), seeds, grams, means)
    return pd.DataFrame(rows), {"clips": len(labels), **tables, "infomec": information}


def analyse(
    params: Params, speech: Path, datasets: Path, ssl: Path, rave: Path
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The speech benchmark's models of params analyses.layers on one version's held-out
    clips, and beside them the self-supervised encoders (`ssl`: that study's artifacts),
    which read the clips rescaled to their pretraining's dB range as its probes do, and the
    RAVE-style model (`rave`: its study's artifacts), which reads their waveforms."""
    from synaudio import rave_recipe
    from synaudio.models.backbone import speech_vae
    from synaudio.params import RAVE

    settings = params.analyses.layers
    version = settings.version
    features, manifest, split = load_features(
        speech / version / "features", f"speech_features@{version}", datasets / version / "dataset"
    )
    clips = analysed_clips(split["test"], settings, "analyses.layers")
    dataset = load_dataset(datasets / version / "dataset")
    labels = probe_labels(dataset.factors, clips, settings, "analyses.layers")
    inputs = np.asarray(features[clips])
    subjects = [Subject("", settings.models, inputs, vae_encoder(speech_vae(params.speech_input),
                        params.speech.latent_dim), speech / version / "models")]  # fmt: skip
    if settings.ssl_methods:
        _, pretraining, _ = load_features(ssl / "features", "ssl_features")
        scaled = in_scale(inputs, manifest["normalisation"], pretraining["normalisation"],
                          params.speech.features.top_db)  # fmt: skip
        subjects.append(Subject("ssl", settings.ssl_methods, scaled, ssl_encoder(tuple(params.ssl.channels)),
                                ssl / "models"))  # fmt: skip
    if settings.rave:
        seeds = [s for s in settings.seeds if s in params.speech.scored[RAVE].seeds]
        network = vae_encoder(rave_recipe.backbone(params), params.rave.latent_dim)
        subjects.append(Subject("rave", [RAVE], dataset.waveforms(clips), network, rave / version / "models",
                                seeds, "seed{seed}", waveform_layer_outputs))  # fmt: skip
    table, tables = analyse_models(subjects, labels, settings)
    return table, {"version": version, **tables}


def syntone_front_end(
    params: Params, syntone: Path, protocol: Protocol, spec: Features | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Every clip of the protocol's dataset through its front-end (in memory) and the
    manifest, computed here by the features stage's code (module docstring: why); `spec`
    replaces params.features (the input-size sweep)."""
    from synaudio.features import computed

    dataset = syntone / protocol.data / "dataset"
    with computed(dataset, protocol, spec or params.features, params.split) as folder:
        inputs, manifest, _ = load_features(folder, f"syntone@{protocol.data}")
        return np.array(inputs), manifest


def analyse_syntone(params: Params, syntone: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The SynTone models of params analyses.syntone_layers, every protocol on the clips the
    corrected protocol holds out, through each protocol's front-end computed from its dataset."""
    from synaudio import syntone_recipe as recipe
    from synaudio.features import split_rows
    from synaudio.protocol import PROTOCOLS

    settings = params.analyses.syntone_layers
    dataset = load_dataset(syntone / "corrected" / "dataset")
    _, held_out = split_rows(len(dataset.factors), params.split, PROTOCOLS["corrected"].split)
    clips = analysed_clips(held_out, settings, "analyses.syntone_layers")
    labels = probe_labels(dataset.factors, clips, settings, "analyses.syntone_layers")
    subjects = []
    for name in settings.protocols:
        inputs, _ = syntone_front_end(params, syntone, PROTOCOLS[name])
        subjects.append(Subject(name, settings.models, inputs[clips], vae_encoder(recipe.backbone(),
                                params.training.latent_dim), syntone / name / "models"))  # fmt: skip
    table, tables = analyse_models(subjects, labels, settings)
    return table, {"version": "SynTone, the corrected protocol's held-out clips", **tables}


def summary(table: pd.DataFrame, tables: dict[str, Any]) -> pd.DataFrame:
    """Per model and layer: width, saturation and probe accuracies (means over seeds) and
    the linear CKA with the same model at another seed."""
    probes = [c for c in table.columns if c.startswith("probe_")]
    out = table.groupby(["model", "layer"], sort=False).agg(
        depth=("depth", "first"), units=("units", "first"), channels=("channels", "first"),
        saturation=("saturation", "mean"), **{c: (c, "mean") for c in probes},
    ).reset_index()  # fmt: skip
    index = {m: k for k, m in enumerate(tables["models"])}
    out["cka_across_seeds"] = [tables["across"][layer][index[m]][index[m]] for m, layer in zip(
        out["model"], out["layer"], strict=True)]  # fmt: skip
    return out


def markdown(summarised: pd.DataFrame, tables: dict[str, Any]) -> str:
    """The summary per model and layer, then the latent similarities across models."""
    probes = [c for c in summarised.columns if c.startswith("probe_")]
    head = ["model", "layer", "units", "saturation", *(p.removeprefix("probe_") for p in probes),
            f"CKA, same model, {tables['pairs']}"]  # fmt: skip
    out = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in summarised.itertuples():
        cells = [f"{getattr(r, p):.3f}" for p in probes]
        out.append(f"| {r.model} | {r.layer} | {r.units:,} | {r.saturation:.3f} | " + " | ".join(cells)
                   + f" | {r.cka_across_seeds:.3f} |")  # fmt: skip
    models, measures = tables["models"], list(tables["latent"])
    out += ["", f"The representations (each model's last layer), model x model ({tables['pairs']}):", "",
            "| models | " + " | ".join(measures) + " |", "|---|" + "---:|" * len(measures)]  # fmt: skip
    for i, j in combinations(range(len(models)), 2):
        cells = [f"{tables['latent'][measure][i][j]:.3f}" for measure in measures]
        out.append(f"| {models[i]} / {models[j]} | " + " | ".join(cells) + " |")
    information = pd.DataFrame(tables["infomec"]).groupby("model", sort=False).mean(numeric_only=True)
    out += ["", "InfoMEC of the representations against the probed factors (mean over seeds):", "",
            "| model | InfoM | InfoE | InfoC | active codes |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    for model, r in information.iterrows():
        out.append(f"| {model} | {r.infom:.3f} | {r.infoe:.3f} | {r.infoc:.3f} | {r.active_codes:.1f} |")
    return "\n".join(out) + "\n"
