"""The names the SynSpeech evaluation writes and the table, report and bench read: the
factors probed and scored, the metrics suite, the untrained baselines and their files.
Kept apart from evaluation.py so that reading results never loads the models or metrics."""

from __future__ import annotations

from pathlib import Path

from synaudio import trivial

# (name, factor-table column, kind): what the probes predict.
PROBED = (
    ("speaker", "speaker_index", "categorical"),
    ("gender", "gender", "categorical"),
    ("text", "text_id", "categorical"),
    ("keyword", "keyword_id", "categorical"),
    ("carrier", "carrier_id", "categorical"),
    ("style", "style_index", "categorical"),
    ("pitch_base", "pitch_base_hz", "continuous"),
    ("pitch_top", "pitch_top_hz", "continuous"),
    ("formant_scale", "formant_scale_pct", "continuous"),
    ("breathiness", "breathiness", "continuous"),
    ("roughness", "roughness", "continuous"),
    ("flutter", "flutter", "continuous"),
)
DISENTANGLEMENT_FACTORS = ("speaker", "gender", "text", "keyword", "carrier", "style")
INFORMATION_FACTORS = tuple(name for name, _, _ in PROBED if name != "pitch_top")  # per-latent matrix
SUITE = ("mig", "jemmig", "dcimig", "modularity", "sap", "dci", "explicitness")
MI_ESTIMATOR = "chance_corrected"
PLUGIN_SUFFIX = "_plugin"
BASELINES = {  # representation name -> what it is (evaluate_baselines)
    "logmel_stats": "per-band mean and std of the log-mel over time",
    "logmel_stats_normalised": "the same over the clip's active frames after subtracting its own "
    "maximum: loudness and zero padding removed",
    **trivial.REPRESENTATIONS,
}


def baseline_file(version: str, name: str) -> str:
    """The evaluation JSON of one baseline representation (stage speech_baseline)."""
    return f"{version}-{name}.json"


LEVEL = "level_normalised"  # the front-end arm's name in evaluations, stage names' suffix "_level"


def arm_stage(stage: str, level: bool) -> str:
    """speech_features / speech_train / speech_evaluate, or the level-normalised arm's own."""
    return f"{stage}_level" if level else stage


def row_label(model: str, front_end: str | None) -> str:
    """How the tables name a model: the level-normalised arm's rows say so."""
    return f"{model} (level-normalised)" if front_end == LEVEL else model


def model_dir(artifacts: Path, version: str, model: str, seed: int, level: bool = False) -> Path:
    """Where a trained model lives under artifacts/speech (dvc.yaml's outs)."""
    return artifacts / version / ("level/models" if level else "models") / model / f"seed{seed}"


def score_stage(name: str) -> str:
    """The dvc.yaml stage that scores a representation of speech.scored (speech-score)."""
    return f"score_{name}"
