"""SynSpeech, built offline: espeak-ng speakers with known voice parameters (SYNSPEECH.md)."""
