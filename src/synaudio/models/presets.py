"""The two sizes of the conv VAE (models/backbone.py), torch-free so params.py can check
an input against them: SynTone's reference network and the deeper one for speech."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Preset:
    channels: tuple[int, ...]  # conv blocks, each 3x3 conv -> LeakyReLU -> 2x2 max-pool
    hidden: tuple[int, int]  # the encoder's two fully connected widths (the decoder mirrors them)
    # Which of the decoder's layer groups draws its random initial weights first. The two
    # networks were first written with opposite orders; keeping each one's order keeps a
    # seed's initial weights - and so every committed model - exactly what they were.
    decoder_init: Literal["dense_first", "deconv_first"]

    @property
    def downsampling(self) -> int:
        """How many times the encoder shrinks each input side: both must divide by it."""
        return 2 ** len(self.channels)


# SYNTONE.md section 3: 1 -> 16 -> 32 -> 64 channels, 128 x 32 -> 64 x 16 x 4, FC 128 -> 64.
SYNTONE = Preset(channels=(16, 32, 64), hidden=(128, 64), decoder_init="dense_first")
# A 3.5 s utterance carries more structure than a 1 s tone: one block deeper and wider,
# 64 x 128 -> 64 x 4 x 8 = 2,048 features, FC 256 -> 128 (~1.2 M parameters).
SPEECH = Preset(channels=(16, 32, 64, 64), hidden=(256, 128), decoder_init="deconv_first")
