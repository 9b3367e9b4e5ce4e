"""The analyses study's sub-commands, one per dvc.yaml stage: analyses-fields
(receptive_fields: the receptive-field table of the archive's encoders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from synaudio.command import Command, Stage


def _fields_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for fields.json and fields.md")


def fields(args: argparse.Namespace) -> None:
    from synaudio.atomic import atomic_directory
    from synaudio.command import write_json
    from synaudio.studies.analyses import fields

    stage = Stage.open(args)
    with stage.tracked("analyses receptive fields"):
        rows = fields.table(stage.params)
        with atomic_directory(args.out) as tmp:
            write_json(tmp / "manifest.json", {"rows": rows})
            (tmp / "fields.md").write_text(fields.markdown(rows))
        stage.log_dict({"rows": rows}, "fields.json")
    spanning = sorted({r["encoder"] for r in rows if r["covers"] and r["kind"] not in ("Linear", "Flatten")})
    stage.done(
        f"receptive fields: {len(rows)} layers of {len({r['encoder'] for r in rows})} encoders "
        f"(a convolution spans the input in: {', '.join(spanning) or 'none'}) -> {args.out}"
    )


COMMANDS = (
    Command(
        "analyses-fields",
        "the receptive field of every layer of the archive's encoders (stage receptive_fields)",
        _fields_arguments,
        fields,
    ),
)
