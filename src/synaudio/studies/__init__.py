"""The registry of studies: each is one folder below this one exposing `STUDY` (its name
and commands); the CLI adds every registered study's commands. A new study is a new
folder, its import and its name in FOLDERS - nothing in another study's folder changes."""

from synaudio.command import Study
from synaudio.studies import analyses, rave, ssl, synspeech, syntone

FOLDERS = (syntone, synspeech, rave, analyses, ssl)
STUDIES: dict[str, Study] = {folder.STUDY.name: folder.STUDY for folder in FOLDERS}
