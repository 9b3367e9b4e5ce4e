"""`synaudio`: one command, a sub-command per pipeline stage (what dvc.yaml calls).

This module only parses and dispatches: the sub-commands come from the archive-wide tools
(synaudio.tools) and from every registered study (synaudio.studies). Every sub-command
validates params.yaml first, so a mistake stops it before any output exists. Problems the
user can fix print one `error:` line per problem and exit with status 2; SIGTERM and
Ctrl-C leave no partial output behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synaudio import tools
from synaudio.command import Command, outputs
from synaudio.errors import UserError
from synaudio.studies import STUDIES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synaudio", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered: list[Command] = [c for study in STUDIES.values() for c in study.commands] + list(
        tools.COMMANDS
    )
    for command in registered:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, so temporaries are removed


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C: remember it, because Lightning turns the KeyboardInterrupt into exit(1)."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _writable(paths: list[Path]) -> None:
    """Refuse up front an output whose nearest existing folder we cannot write to, rather
    than after the work (e.g. a read-only --summary after a whole dataset)."""
    import tempfile

    for path in paths:
        folder = next(p for p in path.absolute().parents if p.is_dir())
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise UserError(f"cannot write {path}: {folder} is not writable ({exc.strerror})") from None


def install_signal_handlers() -> None:
    """SIGTERM unwinds this process (temporaries removed); forked children keep the default.

    A pool worker (SynSpeech's synthesis) inherits handlers through fork, and
    `Pool.terminate()` stops idle workers with SIGTERM. A Python-level handler only runs
    once the blocking call returns, so a SIGTERM landing just before a worker blocks on
    the task queue was never seen and the pool hung at its exit (seen in a test run)."""
    global _children_reset
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _interrupt)
    if not _children_reset:  # once per process: main() also runs in-process (tests)
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        _children_reset = True


_children_reset = False
_interrupted = False


def _record_modules(args: argparse.Namespace) -> None:
    """With SYNAUDIO_MODULES_LOG set, append the synaudio source files this command loaded:
    tests/test_layout.py checks each stage's dvc.yaml deps against them."""
    log = os.environ.get("SYNAUDIO_MODULES_LOG")
    if not log:
        return
    root = Path(__file__).resolve().parents[2]
    files = sorted(
        Path(module.__file__).resolve().relative_to(root).as_posix()
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "synaudio" and getattr(module, "__file__", None)
    )
    with open(log, "a") as handle:
        handle.write(json.dumps({"argv": sys.argv[1:], "command": args.command, "modules": files}) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_signal_handlers()
    try:
        _writable([*outputs(args), *([args.checkpoints] if getattr(args, "checkpoints", None) else [])])
        args.handler(args)
        _record_modules(args)
    except UserError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except SystemExit:
        if not _interrupted:
            raise
        print("interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except PermissionError as exc:  # e.g. a read-only file inside a writable folder
        print(
            f"error: {exc.filename}: {exc.strerror}; fix its permissions or choose another path",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
