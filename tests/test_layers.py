"""The layer analysis (studies/analyses/layers.py): which layers it reads, that its Gram
route gives the same CKA as the feature route, what the across-model table pairs, and the
stage's outputs on the tiny pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synaudio.errors import UserError
from synaudio.metrics import similarity
from synaudio.models.backbone import speech_vae
from synaudio.models.rave import RaveShape, RaveStyle
from synaudio.params import SynToneLayerAnalysis, validate
from synaudio.studies.analyses import layers


@pytest.fixture(scope="module")
def recorded() -> dict[str, layers.LayerRecord]:
    torch.manual_seed(0)
    backbone = speech_vae((64, 128))(16)
    clips = np.random.default_rng(0).random((12, 64, 128), dtype=np.float32)
    return layers.record(backbone.encoder, clips)


def test_every_conv_block_dense_layer_and_the_mean_is_read_in_forward_order(recorded) -> None:
    assert list(recorded) == ["block1", "block2", "block3", "block4", "dense1", "dense2", "mean"]
    assert [r.units for r in recorded.values()] == [
        16 * 32 * 64,
        32 * 16 * 32,
        64 * 8 * 16,
        64 * 4 * 8,
        256,
        128,
        16,
    ]
    assert [r.probe_inputs.shape[1] for r in recorded.values()] == [32, 64, 128, 128, 256, 128, 16]
    assert all(r.gram.shape == (12, 12) and r.covariance.count > 0 for r in recorded.values())


def test_the_last_layer_is_the_posterior_mean_encode_gives() -> None:
    from synaudio.inference import encode

    torch.manual_seed(1)
    backbone = speech_vae((64, 128))(16).eval()
    clips = np.random.default_rng(1).random((6, 64, 128), dtype=np.float32)
    recorded = layers.record(backbone.encoder, clips)["mean"].probe_inputs
    np.testing.assert_allclose(recorded, encode(backbone, clips)[0], rtol=1e-5, atol=1e-6)


def test_the_self_supervised_encoder_gives_its_blocks_then_its_embedding() -> None:
    from synaudio.models.speech_encoder import SpeechEncoder

    torch.manual_seed(2)
    encoder = SpeechEncoder((4, 8, 8))
    clips = np.random.default_rng(2).random((5, 64, 128), dtype=np.float32)
    recorded = layers.record(encoder, clips)
    assert list(recorded) == ["block1", "block2", "block3", "embedding"]
    assert [r.units for r in recorded.values()] == [4 * 32 * 64, 8 * 16 * 32, 8 * 8 * 16, 8]
    with torch.inference_mode():
        expected = encoder.eval()(torch.from_numpy(clips).unsqueeze(1)).double().numpy()
    np.testing.assert_allclose(recorded["embedding"].probe_inputs, expected, rtol=1e-6, atol=1e-7)


def test_models_with_different_layers_are_compared_where_both_have_one() -> None:
    rng = np.random.default_rng(4)
    x = {name: rng.normal(size=(15, 3)) for name in ("block1", "mean", "embedding")}
    gram = {name: v @ v.T for name, v in x.items()}
    grams = {("vae", 0): {"block1": gram["block1"], "mean": gram["mean"]},
             ("ssl/bt", 0): {"block1": gram["block1"], "embedding": gram["embedding"]}}  # fmt: skip
    means = {("vae", 0): x["mean"], ("ssl/bt", 0): x["embedding"]}
    tables = layers.similarity_tables(["vae", "ssl/bt"], {"vae": [0], "ssl/bt": [0]}, grams, means)
    assert tables["layers"] == ["block1", "mean", "embedding"]
    assert tables["across"]["mean"] == [[1.0, None], [None, None]]
    assert tables["within"]["ssl/bt"][0] == [1.0, None, pytest.approx(similarity.cka_of_grams(gram["block1"],
                                             gram["embedding"]))]  # fmt: skip
    expected = similarity.linear_cka(x["mean"], x["embedding"])
    assert tables["latent"]["linear_cka"][0][1] == pytest.approx(expected)


def test_cka_from_grams_equals_cka_from_features() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 50)), rng.normal(size=(30, 7))
    assert similarity.cka_of_grams(x @ x.T, y @ y.T) == pytest.approx(similarity.linear_cka(x, y), abs=1e-12)


def test_across_models_pairs_only_different_seeds() -> None:
    """Model a at seed s against model b at seed t != s: an identical pair of networks at
    one seed, if it were paired, would read 1."""
    rng = np.random.default_rng(3)
    base = {s: rng.normal(size=(20, 5)) for s in (0, 1)}
    grams = {(m, s): {"mean": base[s] @ base[s].T} for m in ("a", "b") for s in (0, 1)}
    means = {(m, s): base[s] for m in ("a", "b") for s in (0, 1)}
    tables = layers.similarity_tables(["a", "b"], {"a": [0, 1], "b": [0, 1]}, grams, means)
    expected = similarity.linear_cka(base[0], base[1])
    assert tables["pairs"] == "different seeds"
    np.testing.assert_allclose(tables["across"]["mean"], np.full((2, 2), expected))
    assert tables["latent"]["linear_cka"][0][1] == pytest.approx(expected)
    one = layers.similarity_tables(["a", "b"], {"a": [0], "b": [0]}, grams, means)
    assert one["pairs"] == "the same seed (one seed only)" and one["across"]["mean"][0][1] == pytest.approx(
        1.0
    )


def test_a_model_with_fewer_seeds_is_paired_with_the_others_at_different_seeds() -> None:
    """The RAVE-style model has seeds 0-1 where the VAE family has 0-2: every pair still
    crosses seeds, and a model with the one seed another has too is paired at it."""
    assert layers.seed_pairs([0, 1, 2], [0, 1]) == [(0, 1), (1, 0), (2, 0), (2, 1)]
    assert layers.seed_pairs([0], [0]) == [(0, 0)] and layers.seed_pairs([1], [0, 1]) == [(1, 0)]
    rng = np.random.default_rng(5)
    base = {s: rng.normal(size=(20, 5)) for s in (0, 1, 2)}
    seeds = {"a": [0, 1, 2], "b": [0, 1]}
    grams = {(m, s): {"mean": base[s] @ base[s].T} for m in seeds for s in seeds[m]}
    means = {(m, s): base[s] for m in seeds for s in seeds[m]}
    tables = layers.similarity_tables(["a", "b"], seeds, grams, means)
    expected = np.mean(
        [similarity.linear_cka(base[a], base[b]) for a, b in layers.seed_pairs([0, 1, 2], [0, 1])]
    )
    assert tables["across"]["mean"][0][1] == pytest.approx(expected) and tables["pairs"] == "different seeds"


def test_the_waveform_encoder_gives_its_blocks_and_the_frame_averaged_mean() -> None:
    """The RAVE-style encoder is read after each strided stage; its representation is the
    posterior mean averaged over latent frames, as its codes are (studies/rave/encode.py)."""
    shape = RaveShape(bands=4, capacity=2, ratios=(2, 2), dilations=((1,), (1,)))
    network = RaveStyle(latent_dim=3, shape=shape)
    clips = np.random.default_rng(6).normal(size=(5, 256)).astype(np.float32)
    recorded = layers.record(network.encoder, clips, layers.waveform_layer_outputs)
    assert list(recorded) == ["block1", "block2", "mean"]
    assert [r.units for r in recorded.values()] == [4 * 32, 8 * 16, 3]
    with torch.inference_mode():
        mean, _ = network.encoder.eval()(torch.from_numpy(clips).unsqueeze(1))
    np.testing.assert_allclose(recorded["mean"].probe_inputs, mean.mean(dim=2).double().numpy(), rtol=1e-6)


def test_the_layer_analysis_reads_only_trained_models_on_held_out_clips() -> None:
    with pytest.raises(UserError, match=r"analyses.layers.models: \['nope'\] are not under speech.models"):
        validate({"analyses": {"layers": {"models": ["nope"]}}})
    with pytest.raises(UserError, match=r"analyses\.layers\.clips: 6000 exceeds the 5000 held-out clips"):
        validate({"analyses": {"layers": {"clips": 6000}}})
    with pytest.raises(UserError, match=r"analyses\.layers\.version"):
        validate({"analyses": {"layers": {"version": "large"}}})
    with pytest.raises(
        UserError, match=r"analyses\.layers\.rave: no RAVE-style model of small at seeds \[2\]"
    ):
        validate({"analyses": {"layers": {"seeds": [2]}}})  # speech.scored.rave_style: seeds 0-1


def test_the_syntone_layer_analysis_reads_only_trained_models_on_held_out_clips() -> None:
    with pytest.raises(UserError, match=r"analyses.syntone_layers.seeds: \[3\] are not trained"):
        validate({"analyses": {"syntone_layers": {"seeds": [0, 3]}}})  # the paper protocol: seeds 0-2
    with pytest.raises(UserError, match=r"analyses\.dynamics\.clips: 13 exceeds the 12 held-out clips"):
        layers.analysed_clips(np.arange(12), SynToneLayerAnalysis(clips=13), "analyses.dynamics")
    with pytest.raises(UserError, match=r"bins: \['speaker'\] are not among factors"):
        validate({"analyses": {"syntone_layers": {"bins": {"speaker": 4}}}})


def test_probe_labels_bin_a_grid_index_and_keep_categories_sorted() -> None:
    factors = pd.DataFrame({"frequency_idx": np.arange(400), "waveform": ["sine", "square"] * 200})
    settings = SynToneLayerAnalysis(factors=["frequency_idx", "waveform"], bins={"frequency_idx": 20})
    labels = layers.probe_labels(factors, np.array([0, 19, 20, 399, 1]), settings, "x")
    assert labels["frequency_idx"].tolist() == [0, 0, 1, 2, 0]  # bins 0, 0, 1, 19, 0 -> codes in order
    assert labels["waveform"].tolist() == [0, 1, 0, 1, 1]
    with pytest.raises(UserError, match="waveform is not a grid index"):
        layers.probe_labels(factors, np.arange(4), SynToneLayerAnalysis(factors=["waveform"],
                            bins={"waveform": 2}), "x")  # fmt: skip


def test_the_pipeline_analyses_both_syntone_protocols_on_the_same_clips(reproduced: Path) -> None:
    out = reproduced / "artifacts" / "analyses" / "syntone_layers"
    table = pd.read_csv(out / "layers.csv")
    models = ["paper/vae", "paper/factor_vae", "corrected/vae", "corrected/factor_vae"]
    assert list(dict.fromkeys(table["model"])) == models and len(table) == 4 * 2 * 6  # 2 seeds, 6 layers
    tables = json.loads((out / "similarity.json").read_text())
    assert tables["models"] == models and tables["pairs"] == "different seeds" and tables["clips"] == 12
    across = np.array(tables["across"]["mean"])
    assert across.shape == (4, 4) and np.allclose(across, across.T)
    assert "| paper/vae | block1 |" in (out / "layers.md").read_text()


def test_the_pipeline_analyses_every_layer_of_the_declared_models(reproduced: Path) -> None:
    out = reproduced / "artifacts" / "analyses" / "layers"
    table = pd.read_csv(out / "layers.csv")
    assert sorted(set(table["model"])) == ["factor_vae", "rave/rave_style", "ssl/bt", "ssl/mbt_width", "vae"]
    assert len(table) == 2 * 7 + 2 * 3 + 5  # the tiny SSL encoder: two blocks and its embedding; RAVE: 4 + 1
    assert table["saturation"].between(0, 1).all() and {"probe_speaker_id", "probe_keyword"} <= set(table)
    tables = json.loads((out / "similarity.json").read_text())
    assert tables["clips"] == 20
    assert [r["model"] for r in tables["infomec"]] == ["vae", "factor_vae", "ssl/bt", "ssl/mbt_width",
                                                       "rave/rave_style"]  # fmt: skip
    assert tables["layers"][-1] == "embedding" and tables["across"]["embedding"][0][0] is None
    assert tables["across"]["block4"][0][-1] is not None  # the VAE's fourth block against RAVE's fourth stage
    assert set(tables["latent"]) == {
        "linear_cka",
        "debiased_cka",
        "rbf_cka",
        "svcca",
        "max_neuron_correlation",
    }
    assert "| vae | block1 | 32,768 |" in (out / "layers.md").read_text()  # 16 channels x 32 x 64
    for figure in ("layers.png", "across.png", "within.png", "latent.png"):
        assert (out / figure).stat().st_size > 10_000


def test_the_pipeline_measures_every_layer_after_every_epoch(reproduced: Path) -> None:
    """Observed trainings (2 epochs) give every layer at initialisation and after each epoch."""
    out = reproduced / "artifacts" / "analyses" / "dynamics"
    curves = pd.read_csv(out / "curves" / "dynamics.csv")
    assert list(dict.fromkeys(curves["model"])) == ["vae", "factor_vae"]
    epochs = curves.groupby("model")["epoch"].unique()
    assert [list(epochs[m]) for m in ("vae", "factor_vae")] == [[0, 1, 2], [0, 1, 2]]
    assert len(curves) == 2 * 3 * 6 and curves["saturation"].between(0, 1).all()
    summary = json.loads((out / "models" / "vae" / "seed0" / "training.json").read_text())
    assert [r["epoch"] for r in summary["layers"]] == [0, 1, 2] and summary["epochs"] == 2
    # observed or not, the same recipe on the same front-end bytes gives the same weights
    committed = reproduced / "artifacts" / "syntone" / "corrected" / "models"
    for model in ("vae", "factor_vae"):
        model_file = Path("models") / model / "seed0" / "model.pt"
        assert (out / model_file).read_bytes() == (committed / model_file.relative_to("models")).read_bytes()
    assert "| vae | 2 | block1 |" in (out / "curves" / "dynamics.md").read_text()
    for figure in ("saturation", "probe_waveform_idx", "probe_amplitude_idx", "probe_frequency_idx"):
        assert (out / "curves" / f"{figure}.png").stat().st_size > 10_000


def test_the_paper_protocol_is_observed_by_its_own_recipe(reproduced: Path) -> None:
    """The paper protocol's observed training (frame-max mel, summed loss, its epochs) gives
    the committed paper model's bytes, and its curves sit beside the corrected protocol's."""
    out = reproduced / "artifacts" / "analyses" / "paper_dynamics"
    curves = pd.read_csv(out / "curves" / "dynamics.csv")
    assert list(dict.fromkeys(curves["model"])) == ["vae"] and curves["saturation"].between(0, 1).all()
    summary = json.loads((out / "models" / "vae" / "seed0" / "training.json").read_text())
    committed = reproduced / "artifacts" / "syntone" / "paper" / "models" / "vae" / "seed0"
    assert summary["epochs"] == json.loads((committed / "training.json").read_text())["epochs"]
    assert [r["epoch"] for r in summary["layers"]] == list(range(summary["epochs"] + 1))
    assert (out / "models" / "vae" / "seed0" / "model.pt").read_bytes() == (
        committed / "model.pt"
    ).read_bytes()
    page = (reproduced / "reports" / "analyses.html").read_text()
    assert 'id="paper_dynamics"' in page and "Over training: the paper protocol" in page


def test_a_synspeech_model_is_observed_by_the_speech_recipe(reproduced: Path) -> None:
    """The SynSpeech over-training (the kit's speech recipe, the front-end computed in the
    stage): at the benchmark's own epochs it gives the benchmark's model bytes, and its
    curves probe the speech factors at every layer of the speech encoder."""
    out = reproduced / "artifacts" / "analyses" / "speech_dynamics"
    curves = pd.read_csv(out / "curves" / "dynamics.csv")
    assert list(dict.fromkeys(curves["model"])) == ["vae"] and curves["saturation"].between(0, 1).all()
    assert {"probe_speaker_id", "probe_gender", "probe_keyword"} <= set(curves)
    assert len(curves) == 2 * 7  # epochs 0 and 1 x four blocks, two dense layers and the means
    summary = json.loads((out / "models" / "vae" / "seed0" / "training.json").read_text())
    committed = reproduced / "artifacts" / "speech" / "small" / "models" / "vae" / "seed0"
    assert summary["epochs"] == json.loads((committed / "training.json").read_text())["epochs"] == 1
    observed = out / "models" / "vae" / "seed0" / "model.pt"
    assert observed.read_bytes() == (committed / "model.pt").read_bytes()
    for figure in ("saturation", "probe_speaker_id", "probe_gender", "probe_keyword"):
        assert (out / "curves" / f"{figure}.png").stat().st_size > 10_000
    page = (reproduced / "reports" / "analyses.html").read_text()
    assert 'id="speech_dynamics"' in page and "Over training: SynSpeech small" in page
