"""The MLflow run names of the analyses' stages, by report section (= params block for the
observed trainings): the commands log under them and the report's provenance table quotes
them, so the two cannot drift apart."""

RUNS = {
    "fields": "analyses receptive fields",
    "speech": "analyses layers",
    "syntone": "analyses syntone layers",
    "dynamics": "analyses training dynamics",
    "paper_dynamics": "analyses training dynamics (paper)",
    "speech_dynamics": "analyses training dynamics (SynSpeech)",
    "input_size": "analyses input size",
    "paper_input_size": "analyses input size (paper)",
}
DYNAMICS = ("dynamics", "paper_dynamics")  # params analyses.<block>: a SynTone protocol's observed trainings
OBSERVED = (*DYNAMICS, "speech_dynamics")  # every block of observed trainings, SynSpeech's too
INPUT_SIZE = ("input_size", "paper_input_size")  # params analyses.<block>: a protocol's input-size sweep


def sweep_training(block: str, mels: int, frames: int, model: str, seed: int) -> str:
    """The MLflow run of one training of an input-size sweep."""
    return f"{RUNS[block].removeprefix('analyses ')} {mels}x{frames} {model}/seed{seed}"
