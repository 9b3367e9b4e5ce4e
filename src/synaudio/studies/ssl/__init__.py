"""Barlow Twins and its modified form (MBT, our reading) on SynSpeech (issue 17; SSL.md):
one encoder (networks.py) pretrained without labels on Large's unseen-by-downstream
speakers with each objective (objectives.py) on random views (views.py) by pretrain.py;
schema.py names the runs and the pretraining clips; commands.py runs them as stages."""

from synaudio.command import Study
from synaudio.studies.ssl.commands import COMMANDS

STUDY = Study("ssl", "Self-supervised: Barlow Twins and MBT on SynSpeech (issue 17)", COMMANDS)
