"""Representation analyses on the archive's own encoders (issue 18, papers of the same
research line as the datasets): the analytic receptive field of every layer against the
input its study feeds it (fields.py); saturation, layer probes, similarity across seeds,
objectives and protocols, and InfoMEC, layer by layer (layers.py); the same over training
(dynamics.py) and over input sizes (input_size.py); one report page for all of them
(report.py, analyses.html.j2). commands.py runs them as stages."""

from synaudio.command import Study
from synaudio.studies.analyses.commands import COMMANDS

STUDY = Study(
    "analyses", "Analyses: receptive fields, saturation, layer probes and similarity (issue 18)", COMMANDS
)
