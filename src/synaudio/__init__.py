"""synaudio: the reproducibility archive for disentangled audio representation learning."""

__version__ = "0.1.0"
