"""RAVE on SynSpeech (issue 16): the model the SynSpeech paper tests, as a RAVE-style
waveform VAE (synaudio.models.rave) trained by the archive's loop. Its per-clip codes go
to the SynSpeech study's scoring (`synaudio speech-score`, stage score_rave_style) like any
outside representation, so its rows stand in the SynSpeech tables beside the VAE family.

synaudio.rave_recipe (in the kit: the analyses study loads its models too) sets up
training, encode.py writes the codes, report.py the page that plays them
(reports/rave.html), schema.py names versions and stages; commands.py runs them as stages."""

from synaudio.command import Study
from synaudio.studies.rave.commands import COMMANDS

STUDY = Study("rave", "RAVE-style: a waveform VAE (RAVE v2's layout) on SynSpeech", COMMANDS)
