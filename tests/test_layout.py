"""The layout's rules (issue 13), checked on the source: one folder per study behind one
registry, shared kit below, no upward or circular imports, a thin CLI, and every stage's
dvc.yaml deps naming the modules it runs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from tests.conftest import REPO

PACKAGE = REPO / "src" / "synaudio"
TOP = {"synaudio.cli", "synaudio.tools"}  # parse and dispatch: above the registry
REGISTRY = "synaudio.studies"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every synaudio module a file imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("synaudio"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("synaudio"))
    return found


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _study(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "studies" else None


def test_the_kit_never_imports_a_study_or_the_cli() -> None:
    for module, imported in GRAPH.items():
        if _study(module) is None and module not in TOP and module != REGISTRY:
            upward = sorted(i for i in imported if _study(i) or i in TOP or i == REGISTRY)
            assert not upward, f"{module} (shared kit) imports {upward}"


def test_a_study_imports_no_other_study_and_nothing_above_it() -> None:
    for module, imported in GRAPH.items():
        study = _study(module)
        if study is not None:
            foreign = sorted(
                i for i in imported if (_study(i) not in (None, study)) or i in TOP or i == REGISTRY
            )
            assert not foreign, f"{module} (study {study}) imports {foreign}"


def test_the_import_graph_has_no_cycle() -> None:
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            assert state.get(target) != "open", f"import cycle: {' -> '.join([*path, module, target])}"
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])


def test_every_study_is_registered_and_the_cli_stays_thin() -> None:
    from synaudio.studies import STUDIES

    folders = sorted(p.name for p in (PACKAGE / "studies").iterdir() if (p / "__init__.py").exists())
    assert sorted(STUDIES) == folders
    assert len((PACKAGE / "cli.py").read_text().splitlines()) <= 250


DISPATCH = {"src/synaudio/cli.py", "src/synaudio/tools.py", "src/synaudio/studies/__init__.py"}


def _runs_nothing(module: str) -> bool:
    """A package __init__ that holds only its docstring."""
    body = ast.parse((REPO / module).read_text()).body
    return module.endswith("/__init__.py") and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def _study_dispatch(module: str, own: set[str]) -> bool:
    """A study's __init__ (its name and commands) or another study's commands module."""
    parts = module.split("/")
    if len(parts) != 5 or parts[2] != "studies":
        return False
    return parts[4] == "__init__.py" or (parts[4] == "commands.py" and parts[3] not in own)


def _declared(deps: list[str], module: str) -> bool:
    return any(module == dep or module.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_every_stage_declares_the_modules_it_runs(reproduced: Path) -> None:
    """Run by the tiny pipeline with SYNAUDIO_MODULES_LOG: what each command loaded, minus
    the dispatch layer (the CLI, the registry, each study's __init__ and the other studies'
    commands, which only list sub-commands), must be in the stage's dvc.yaml deps."""
    stages = yaml.safe_load((reproduced / "dvc.lock").read_text())["stages"]
    by_command = {stage["cmd"].removeprefix("synaudio "): (name, stage) for name, stage in stages.items()}
    records = [json.loads(line) for line in (reproduced.parent / "modules.jsonl").read_text().splitlines()]
    checked = set()
    for record in records:
        if record["command"] == "schedule":
            continue  # the driver that ran the stages (`synaudio schedule`), not a stage
        name, stage = by_command[" ".join(record["argv"])]
        deps = [dep["path"] for dep in stage["deps"]]
        own = {dep.split("/")[3] for dep in deps if dep.startswith("src/synaudio/studies/")}
        missing = [
            module for module in record["modules"]
            if module not in DISPATCH and not _study_dispatch(module, own) and not _runs_nothing(module)
            and not _declared(deps, module)
        ]  # fmt: skip
        assert not missing, f"stage {name} runs {missing} but dvc.yaml does not list them in its deps"
        checked.add(name)
    assert checked == set(stages), f"no module record for {sorted(set(stages) - checked)}"


def _readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    after = text[text.index(f"<!-- {marker} -->") :]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_study_is_one_folder_and_one_registry_line(
    tmp_path: Path, tiny_study: dict[str, Path], write_params, tracking_uri: str
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    source = tmp_path / "src"
    shutil.copytree(PACKAGE.parent, source, ignore=shutil.ignore_patterns("__pycache__"))
    folder = source / "synaudio" / "studies" / "noise_floor"
    folder.mkdir()
    (folder / "__init__.py").write_text(_readme_block("example-study"))
    registry = source / "synaudio" / "studies" / "__init__.py"
    text = registry.read_text()
    line = next(row for row in text.splitlines() if row.startswith("FOLDERS"))
    text = text.replace(line, _readme_block("example-registry").strip())
    importing = "from synaudio.studies import "
    registry.write_text(text.replace(importing, f"{importing}noise_floor, "))
    out = tmp_path / "noise.json"
    command = [sys.executable, "-m", "synaudio.cli", "--params", str(write_params()), "noise-floor",
               "--dataset", str(tiny_study["corrected"] / "dataset"), "--factors",
               "waveform_idx,frequency_hz,amplitude", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(source), "MLFLOW_TRACKING_URI": tracking_uri}
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("noise floor: MIG") and "MLflow run" in result.stdout
    assert abs(json.loads(out.read_text())["metrics"]["mig"]) <= 0.05  # noise: ~0 once chance-corrected
