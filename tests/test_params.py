"""params.yaml validation: every kind of mistake stops the CLI with one line naming the
key and the reason, a non-zero exit, and nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from synaudio import syntone_recipe as recipe
from synaudio.errors import UserError
from synaudio.params import Params, flatten, load_params, validate, with_overrides
from synaudio.protocol import CORRECTED
from tests.conftest import REPO, TINY


def changed(path: str, value: Any) -> dict[str, Any]:
    """TINY with one dotted key set (or deleted when value is ...)."""
    tree = copy.deepcopy(TINY)
    *parents, leaf = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return tree


def test_repository_params_are_valid_and_spell_out_the_defaults() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.syntone.n_clips == 32_000
    assert params.syntone.clip_samples == 16_000
    assert params == Params(), "params.yaml should spell out the defaults (the scale that was run)"


MISTAKES = [
    # (dotted key, bad value, fragment the message must contain)
    ("syntone.frequncy", {"levels": 3}, "syntone.frequncy: unknown key"),
    ("syntone.sample_rate", "16000", "syntone.sample_rate: Input should be a valid integer"),
    ("syntone.frequency.levels", 2.5, "syntone.frequency.levels"),
    ("syntone.frequency.stop", 9000.0, "syntone.frequency.stop: 9000.0 Hz is above the Nyquist"),
    ("syntone.frequency.levels", 0, "syntone.frequency.levels: Input should be greater than or equal to 1"),
    ("syntone.amplitude.start", -0.5, "syntone.amplitude.start: Input should be greater than 0"),
    ("syntone.amplitude.stop", 1.5, "syntone.amplitude.stop: 1.5 exceeds full scale"),
    ("syntone.waveforms", ["sine", "noise"], "syntone.waveforms.1: Input should be"),
    ("syntone.waveforms", ["sine", "sine"], "syntone.waveforms: waveforms repeat"),
    ("syntone.waveforms", [], "syntone.waveforms: List should have at least 1 item"),
    ("syntone.synthesis", "fm", "syntone.synthesis: Input should be 'naive' or 'bandlimited'"),
    ("syntone.duration", 0, "syntone.duration: Input should be greater than 0"),
    ("tracking.enabled", "yes", "tracking.enabled: Input should be a valid boolean"),
    ("trainig", {"epochs": 3}, "trainig: unknown key"),
    ("training.latent_dim", 0, "training.latent_dim: Input should be greater than or equal to 1"),
    ("training.batch_size", 64, "training.batch_size: batch of 64 exceeds the 48 training clips"),
    ("training.models", ["vae", "beta_vae"], "training.models: ['beta_vae'] have no block under models:"),
    ("models.vae.beta", -4.0, "models.vae.beta: Input should be greater than or equal to 0"),
    ("models.vae.objective", "gan", "models.vae: Input tag 'gan' found using 'objective' does not match"),
    ("training.device", "tpu", "training.device: Input should be 'auto', 'cpu' or 'cuda'"),
    ("ladder.models", ["beta_vae"], "ladder.models: ['beta_vae'] are not under training.models"),
    (
        "ladder.seeds",
        [7],
        "ladder.seeds: [7] are not both in training.paper_seeds and training.corrected_seeds",
    ),
    ("evaluation.bootstrap_resamples", 10, "evaluation.bootstrap_resamples: Input should be greater than"),
    ("rave.crop_samples", 16000, "rave.crop_samples: 16000 is not a multiple of the hop (512)"),
    ("rave.ratios", [4, 3, 2, 2], "rave.ratios: every ratio must be even and >= 2"),
    ("rave.dilations", [[1, 3, 9]], "rave.dilations: one list per ratio (4), got 1"),
    ("rave.scales", [32768], "rave.scales: a scale of 32768 exceeds crop_samples (4096)"),
    ("rave.epochs", {"medium": 2}, "rave.epochs: no epochs for speech.scored.rave_style.versions ['small']"),
    ("rave.crop_samples", 57344, "rave.crop_samples: the 56000-sample clips must be at least crop_samples"),
    ("speech.scored", {"vae": {"versions": ["small"], "seeds": [0]}}, "speech.scored: vae: versions []"),
    ("ssl.pretraining.first_speaker", 2, "ssl.pretraining.first_speaker: 2 would pretrain on downstream"),
    ("ssl.batch_size", 7, "ssl.batch_size: 7 does not fit the 6 pretraining clips"),
    ("ssl.arms", {"bt": {}}, "ssl.arms: ['bt'] are also under ssl.methods"),
    ("ssl.methods", {"random": {}}, "ssl.methods: 'random' names the untrained encoder baseline"),
    ("ssl.fractions", [0.0, 1.0], "ssl.fractions: labelled fractions lie in (0, 1]"),
    (
        "ssl.tasks",
        {
            "speaker": {"version": "small", "factor": "speaker_index"},
            "keyword": {"version": "small", "factor": "keyword_id"},
            "style": {"version": "large", "factor": "style_index"},
        },
        "ssl.tasks: versions ['large']",
    ),
    (
        "ssl.finetune.methods",
        ["nope"],
        "ssl.finetune.methods: ['nope'] are not under ssl.methods or ssl.arms",
    ),
    ("ssl.finetune.evaluate_at", [5, 10], "ssl.finetune.evaluate_at: increasing steps from 0"),
    ("ssl.methods", {"log_mel": {}}, "ssl.methods: ['log_mel'] name baselines"),
    ("ssl.views.crop_frames", 200, "ssl.views.crop_frames: longer than the 128 frames of a clip"),
    (
        "analyses.paper_dynamics.protocol",
        "corrected",
        "analyses.paper_dynamics.protocol: Input should be 'paper'",
    ),
    (
        "analyses.paper_input_size.protocol",
        "corrected",
        "analyses.paper_input_size.protocol: Input should be 'paper'",
    ),
    (
        "analyses.paper_input_size.n_mels",
        [36],
        "analyses.paper_input_size.n_mels: [36] are not multiples of 8",
    ),
    (
        "analyses.speech_input_size.n_mels",
        [24],
        "analyses.speech_input_size.n_mels: [24] are not multiples of 16",
    ),
    (
        "analyses.speech_input_size.version",
        "large",
        "analyses.speech_input_size.version: 'large' is not under speech.versions",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), MISTAKES, ids=[m[0] + "=" + repr(m[1]) for m in MISTAKES]
)
def test_each_mistake_names_the_key_and_the_reason(key: str, value: Any, message: str) -> None:
    with pytest.raises(UserError) as caught:
        validate(changed(key, value))
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]
    assert lines[0].startswith("params.yaml: ")


def test_several_mistakes_give_one_line_each() -> None:
    tree = changed("syntone.sample_rate", "16k")
    tree["syntone"]["bogus"] = 1
    with pytest.raises(UserError) as caught:
        validate(tree)
    assert len(str(caught.value).splitlines()) == 2


def test_cli_rejects_bad_params_before_writing_anything(cli, tmp_path: Path, write_params) -> None:
    params = write_params(changed("syntone.frequency.stop", 12000.0))
    out = tmp_path / "out" / "dataset"
    result = cli(
        "--params", params, "syntone", "--protocol", "paper", "--out", out, "--summary", tmp_path / "s.json"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {params}: syntone.frequency.stop: 12000.0 Hz is above the Nyquist frequency 8000.0 Hz "
        "(sample_rate / 2)"
    ]
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [("syntone: [unclosed", "not valid YAML"), ("- a\n- b\n", "the top level must be a mapping")],
)
def test_unreadable_files_give_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as caught:
        load_params(path)
    assert len(str(caught.value).splitlines()) == 1


def test_missing_file_says_where_to_run_from(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize("profile", ["params.quick.yaml", "params.full.yaml"])
def test_profiles_are_valid_and_become_dvc_set_arguments(cli, profile: str) -> None:
    overrides = yaml.safe_load((REPO / profile).read_text())
    scaled = with_overrides(load_params(REPO / "params.yaml"), overrides, profile)
    if profile == "params.quick.yaml":
        assert scaled.syntone.n_clips < 1_000
    else:  # the papers' grid
        assert (
            scaled.training.corrected_seeds == [0, 1, 2, 3, 4]
            and recipe.epochs(scaled, "vae", CORRECTED) == 20
        )
    result = cli("params", "--overrides", REPO / profile, check=True)
    expected = [f"-S {k}={json.dumps(v, separators=(',', ':'))}" for k, v in flatten(overrides).items()]
    assert result.stdout.split() == " ".join(expected).split()  # no spaces inside a value: the shell splits


def test_bad_override_is_caught_before_any_run(tmp_path: Path, cli) -> None:
    bad = tmp_path / "quick.yaml"
    bad.write_text("syntone: {frequency: {levles: 3}}\n")
    result = cli("params", "--overrides", bad)
    assert result.returncode == 2
    assert "syntone.frequency.levles: unknown key" in result.stderr
