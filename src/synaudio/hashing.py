"""SHA-256 of a file, streamed: the one helper every manifest, model tag and check uses."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 24  # 16 MiB: a multi-GB dataset never sits in memory whole


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
