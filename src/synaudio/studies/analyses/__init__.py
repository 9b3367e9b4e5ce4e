"""Representation analyses on the archive's own encoders (issue 18, papers of the same
research line as the datasets): first the analytic receptive field of every layer against
the input its study feeds it (fields.py; "unproductive layers"); saturation per layer,
layer probes, the input-size sweep and similarity across seeds and methods follow.
commands.py runs them as stages."""

from synaudio.command import Study
from synaudio.studies.analyses.commands import COMMANDS

STUDY = Study("analyses", "Analyses: receptive fields of the archive's encoders (issue 18)", COMMANDS)
