"""The registry of studies: each is one folder below this one exposing `STUDY` (its name
and commands); the CLI adds every registered study's commands. A new study is a new
folder and one line here - nothing in another study's folder changes."""

from synaudio.command import Study
from synaudio.studies import analyses, rave, synspeech, syntone

STUDIES: dict[str, Study] = {s.name: s for s in (syntone.STUDY, synspeech.STUDY, rave.STUDY, analyses.STUDY)}
