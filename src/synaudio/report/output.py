"""What every study's report writes with: a staging folder with final links, decoding codes
into features, and the Jinja2 page (the study's template, the shared style beside it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import torch


class Output:
    """The staging copy of reports/<name>/: files go in it, links point to their final place."""

    def __init__(self, staging: Path, name: str) -> None:
        self.staging, self.name = staging, name

    def path(self, relative: str) -> Path:
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def link(self, relative: str) -> str:
        return f"{self.name}/{relative}"


@torch.inference_mode()
def decode(backbone: Any, codes: np.ndarray) -> np.ndarray:
    """Latent codes (N, D) -> the decoder's features (N, mels, frames)."""
    return backbone.decoder(torch.from_numpy(np.asarray(codes, dtype=np.float32)))[:, 0].numpy()


def render(template: Path, **context: Any) -> str:
    """Render a study's page template; it may include the shared `_style.html.j2`."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([template.parent, Path(__file__).parent]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a template typo fails the stage instead of leaving a gap
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(template.name).render(**context)
