"""SynTone (Brima et al.): tones on a waveform x amplitude x frequency grid, the VAE family
trained under the paper's protocol and a corrected one, and the supervised metrics.

dataset.py generates the grid, evaluation.py scores a model, tables.py makes the results
table, report.py the page; commands.py runs them as stages. The training recipe is the kit's
synaudio.syntone_recipe: the analyses study trains SynTone models by it too."""

from synaudio.command import Study
from synaudio.studies.syntone.commands import COMMANDS

STUDY = Study("syntone", "SynTone: the VAE family under the paper's and a corrected protocol", COMMANDS)
