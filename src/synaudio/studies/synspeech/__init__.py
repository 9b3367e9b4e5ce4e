"""SynSpeech (Brima et al.): speech from an offline engine on a speaker x text x style grid,
and the VAE family benchmarked on it with linear probes and the metrics suite.

voicebank.py, engine.py and dataset.py make the data, checks.py tests its audio; the kit's
speech_recipe.py sets up training (the analyses study trains by it too), evaluation.py (with
trivial.py's baselines) scores a model, tables.py makes the results table, report.py the
page; commands.py runs them as stages."""

from synaudio.command import Study
from synaudio.studies.synspeech.commands import COMMANDS


def _engine() -> str:
    """espeak-ng's version for `synaudio doctor` (imported only when asked)."""
    from synaudio.studies.synspeech.engine import doctor

    return doctor()


STUDY = Study("synspeech", "SynSpeech: the VAE family probed on synthetic speech", COMMANDS, (_engine,))
