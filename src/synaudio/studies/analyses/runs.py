"""The MLflow run names of the analyses' stages, by report section (= the params block for
the observed trainings and sweeps): the commands log under them and the report's provenance
table quotes them, so the two cannot drift apart. Imported where a run is opened, not by
commands.py's parser: every stage's CLI builds that parser."""

RUNS = {
    "fields": "analyses receptive fields",
    "speech": "analyses layers",
    "syntone": "analyses syntone layers",
    "dynamics": "analyses training dynamics",
    "paper_dynamics": "analyses training dynamics (paper)",
    "speech_dynamics": "analyses training dynamics (SynSpeech)",
    "input_size": "analyses input size",
    "paper_input_size": "analyses input size (paper)",
    "speech_input_size": "analyses input size (SynSpeech)",
}


def sweep_training(block: str, mels: int, frames: int, model: str, seed: int) -> str:
    """The MLflow run of one training of an input-size sweep."""
    return f"{RUNS[block].removeprefix('analyses ')} {mels}x{frames} {model}/seed{seed}"
