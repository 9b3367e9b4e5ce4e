"""The SynSpeech benchmark's parts: backbone, training recipe, factors, probes, table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synaudio import speech_recipe as recipe
from synaudio import syntone_recipe
from synaudio.errors import UserError
from synaudio.models.backbone import ConvVAE
from synaudio.models.presets import SPEECH
from synaudio.params import Params, validate
from synaudio.protocol import PAPER
from synaudio.studies.synspeech import evaluation, schema, tables
from tests.conftest import TINY


def test_backbone_reconstructs_its_input_shape_and_refuses_odd_sizes() -> None:
    backbone = ConvVAE(latent_dim=5, n_mels=32, frames=48, preset=SPEECH)
    out = backbone(torch.rand(3, 1, 32, 48))
    assert out["reconstruction"].shape == (3, 1, 32, 48)
    assert out["mean"].shape == out["z"].shape == (3, 5)
    assert out["reconstruction"].min() >= 0 and out["reconstruction"].max() <= 1
    with pytest.raises(ValueError, match="multiples of 16"):
        ConvVAE(latent_dim=5, n_mels=32, frames=50, preset=SPEECH)


def test_default_front_end_gives_the_backbones_input_and_bad_hops_are_refused() -> None:
    params = Params()
    assert recipe.frames(params.speech.features, 56000) == 128  # 3.5 s at 16 kHz, hop 438
    with pytest.raises(UserError, match=r"speech.features.hop_length: .*129 frames"):
        validate({"speech": {"features": {"hop_length": 437}}})
    with pytest.raises(UserError, match=r"speech.versions: \['huge'\]"):
        validate(
            {
                "speech": {
                    "versions": ["huge"],
                    "epochs": {"huge": 1},
                    "level_normalised": {"versions": []},
                    "scored": {},
                }
            }
        )
    with pytest.raises(UserError, match=r"speech.epochs: no epochs for version\(s\) \['medium'\]"):
        validate({"speech": {"epochs": {"small": 3}}})


def test_training_config_takes_the_speech_settings_and_drops_syntone_overrides() -> None:
    params = validate({"speech": {"latent_dim": 12, "batch_size": 32, "epochs": {"small": 3, "medium": 2}}})
    assert syntone_recipe.config(params, "factor_vae", PAPER).epochs == 40  # the SynTone paper's override
    config = recipe.config(params, "medium")
    assert (config.latent_dim, config.batch_size, config.epochs) == (12, 32, 2)
    assert config.loss.reduction == "per_sample_mean"
    objective = recipe.objective(params, "factor_vae")
    assert objective.batch_size is None and objective.epochs is None
    assert recipe.objective(params, "beta_vae").beta == params.models["beta_vae"].beta


def _factors(styles: int = 1) -> pd.DataFrame:
    rows = [
        {"speaker_index": s, "gender": ("female", "male")[s % 2], "text_id": t, "keyword_id": t % 3,
         "carrier_id": t // 3, "style_index": style, "pitch_base_hz": 100.0 + 20 * s,
         "pitch_top_hz": 150.0 + s,
         "formant_scale_pct": 90 + s, "breathiness": s % 3, "roughness": 0, "flutter": s}
        for s in range(6) for t in range(9) for style in range(styles)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_factor_matrix_codes_strings_and_drops_factors_that_do_not_vary() -> None:
    truth, names, kinds = evaluation.factor_matrix(_factors(), ("speaker", "gender", "style", "roughness"))
    assert names == ["speaker", "gender"]  # one style, no roughness: nothing to predict
    assert kinds == ["categorical", "categorical"]
    assert set(truth[:, 1]) == {0.0, 1.0}


def test_probes_find_what_the_codes_carry_and_report_chance() -> None:
    factors = _factors(styles=2)
    rng = np.random.default_rng(0)
    codes = np.column_stack(
        [
            factors["speaker_index"],
            factors["speaker_index"] % 2,
            factors["style_index"],
            rng.random(len(factors)),
        ]
    ).astype(float)
    result = evaluation.probes(codes, factors, seed=0)
    scores = result["scores"]
    assert scores["probe/gender"] == 1.0 and scores["probe/style"] == 1.0
    assert scores["probe/pitch_base"] == pytest.approx(1.0, abs=1e-3)  # linear in the speaker code
    assert scores["probe/text"] < 0.5
    assert result["chance"]["chance/gender"] == 0.5
    assert result["chance"]["chance/text"] == pytest.approx(1 / 9)
    assert "probe/roughness" not in scores  # constant here


def test_table_averages_seeds_orders_models_and_writes_markdown() -> None:
    def evaluation_json(model: str, seed: int, speaker: float, version: str = "small") -> dict:
        return {
            "version": version, "model": model, "seed": seed,
            "metrics": {"probe/speaker": speaker, "probe/gender": 0.9, "mig": 0.1, "mig/speaker": 0.2},
            "chance": {"chance/speaker": 0.02, "chance/gender": 0.5},
            "held_out": {"reconstruction_error": 10.0, "active_dimensions": 3},
        }  # fmt: skip

    table = tables.aggregate(
        [
            evaluation_json("vae", 0, 0.5, version="medium"),
            evaluation_json("vae", 0, 0.2),
            evaluation_json("vae", 1, 0.4),
            evaluation_json("logmel_stats", 0, 0.9),
        ]
    )
    assert list(dict.fromkeys(table.version)) == ["small", "medium"]  # the original's order, not by name
    speaker = table[(table.metric == "probe/speaker") & (table.version == "small")].set_index("model")
    assert list(speaker.index) == ["logmel_stats", "vae"]
    assert speaker.loc["vae", "mean"] == pytest.approx(0.3)
    assert speaker.loc["vae", "std"] == pytest.approx(0.02**0.5)  # ddof=1
    assert speaker.loc["vae", "ci95"] == pytest.approx(12.7062047 * 0.1)  # t(0.975, 1) * s / sqrt(2)
    assert speaker.loc["vae", "seeds"] == 2
    assert "mig/speaker" not in set(table.metric)  # per-factor parts stay in the JSON files
    text = tables.markdown(table)
    assert "| *chance* | 0.020 | 0.500 |" in text
    assert "| vae (2 seeds) | 0.300 +- 1.271 | 0.900 +- 0.000 |" in text
    assert "| vae | 0.100 +- 0.000 | 10.000 +- 0.000 | 3.000 +- 0.000 |" in text
    assert "| logmel_stats (1 seed) | 0.900 | 0.900 |" in text  # one seed: no spread shown


def test_tiny_params_are_valid() -> None:
    params = validate(TINY)
    assert params.speech.versions == ["small", "medium"]


def test_trivial_features_measure_level_speaking_time_and_pitch() -> None:
    from synaudio.trivial import summarise

    t = np.arange(56_000) / 16_000
    clips = np.zeros((3, t.size), dtype=np.float32)
    clips[0, :32_000] = 0.5 * np.sin(2 * np.pi * 200 * t[:32_000])  # 2 s of a 200 Hz tone at -9 dB
    clips[1, :16_000] = 0.05 * np.sign(np.sin(2 * np.pi * 120 * t[:16_000]))  # 1 s, 120 Hz, -26 dB
    clips[2, :20_000] = 0.1 * np.random.default_rng(0).standard_normal(20_000)  # whisper-like: unvoiced
    level, seconds, f0 = summarise(clips, 16_000).T
    # white noise loses the half of its power above 4 kHz to the pair averaging: -20 dB - 3 dB
    assert level == pytest.approx([20 * np.log10(0.5 / 2**0.5), 20 * np.log10(0.05), -23], abs=0.5)
    assert seconds[:2] == pytest.approx([2.0, 1.0], abs=0.05)
    assert f0[0] == pytest.approx(200, rel=0.02) and f0[1] == pytest.approx(120, rel=0.02)
    assert f0[2] == 0.0  # no voiced frame
    with pytest.raises(ValueError, match="16 kHz"):
        summarise(clips, 22_050)


def test_the_normalised_log_mel_statistics_ignore_level_and_padding() -> None:
    rng = np.random.default_rng(0)
    speech = 0.3 + 0.4 * rng.random((1, 8, 40))
    padded = np.concatenate([speech, np.zeros((1, 8, 30))], axis=2)  # the same clip, zero-padded longer
    louder = np.concatenate([np.zeros((1, 8, 30)), speech + 0.2], axis=2)  # +16 dB, padded before
    plain = evaluation.log_mel_statistics(np.concatenate([padded, louder]))
    assert not np.allclose(plain[0], plain[1])  # level and padding show in the plain statistics
    normalised = evaluation.log_mel_statistics(np.concatenate([padded, louder]), normalised=True)
    assert normalised[0] == pytest.approx(normalised[1])


def test_the_level_normalised_front_end_ignores_a_gain_and_keeps_the_rest() -> None:
    """peak_log_mel: a clip at a tenth of the amplitude gives the same features; the study's
    log_mel front-end moves by 20 dB of its 80 dB range (1/4 of the scale)."""
    from synaudio.features import mel_transform, peak_relative, to_db

    spec = Params().speech.features
    rng = np.random.default_rng(0)
    clip = torch.from_numpy(np.r_[rng.normal(0, 0.3, 20_000), np.zeros(36_000)].astype(np.float32))[None]
    mel = mel_transform(spec, 16_000)
    loud, quiet = peak_relative(mel(clip), spec.top_db), peak_relative(mel(clip / 10), spec.top_db)
    assert loud.max() == 1.0 and loud.min() == 0.0  # the peak on top, the padding on the floor
    assert torch.allclose(loud, quiet, atol=1e-5)
    shift = to_db(mel(clip)) - to_db(mel(clip / 10))
    assert shift[loud > 0.5].mean().item() == pytest.approx(20.0, abs=1e-3)


def test_the_level_arm_must_name_benchmarked_versions_and_models() -> None:
    speech = {**TINY["speech"], "level_normalised": {"versions": ["medium"], "models": ["beta_vae"]}}
    with pytest.raises(UserError, match="level_normalised"):
        validate({**TINY, "speech": speech})


def test_every_baseline_has_its_metrics_file_in_dvc_yaml() -> None:
    import yaml

    from tests.conftest import REPO

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["speech_baseline"]
    declared = [next(iter(entry)) for entry in stage["metrics"]]
    expected = [
        f"artifacts/speech/eval/{schema.baseline_file('${item.version}', n)}" for n in schema.BASELINES
    ]
    assert declared == expected
