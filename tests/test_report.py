"""The report stage: what it computes, what it writes, and what a reader's browser shows."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synaudio.features import frame_max_normalise, mel_transform, to_db
from synaudio.params import Features, validate
from synaudio.report.inversion import Inverter
from synaudio.report.readme import patch_readme
from synaudio.studies.synspeech.report import MARKERS as SPEECH_MARKERS
from synaudio.studies.synspeech.schema import BASELINES
from synaudio.studies.syntone.evaluation import latent_information
from synaudio.studies.syntone.report import LABELS, _vary
from synaudio.studies.syntone.tables import MARKERS
from tests.browser import inspect_page
from tests.conftest import REPO, TINY, dvc

BEGIN, END = MARKERS

LINEAR_PROBES = ("waveform", "frequency", "log_frequency", "amplitude", "amplitude_db")
PAGE_LIMIT = 15_000_000  # bytes: HTML + figures + audio


def test_every_traversal_row_starts_from_the_same_base_code() -> None:
    base = np.array([0.5, -1.0, 2.0])
    values = np.linspace(-3, 3, 5)
    for dim in range(3):
        codes = _vary(base, dim, values)
        np.testing.assert_array_equal(codes[:, dim], values)
        np.testing.assert_array_equal(
            np.delete(codes, dim, axis=1), np.delete(np.tile(base, (5, 1)), dim, axis=1)
        )
    assert base.tolist() == [0.5, -1.0, 2.0]  # the base itself is never edited (the reference's bug)


@pytest.mark.parametrize("protocol", ["paper", "corrected"])
def test_griffin_lim_audio_keeps_the_tone_pitch(protocol: str) -> None:
    spec, rate, frequency = Features(), 16000, 1000.0
    tone = torch.sin(2 * torch.pi * frequency * torch.arange(rate) / rate) * 0.5
    power = mel_transform(spec, rate)(tone)
    peak = float(to_db(power).max())  # as the features stage does over a training split
    normalisation = {"db_floor": peak - spec.top_db, "db_peak": peak}
    features = (
        frame_max_normalise(power)
        if protocol == "paper"
        else (to_db(power).clamp(peak - spec.top_db, peak) - (peak - spec.top_db)) / spec.top_db
    )
    manifest = {"protocol": protocol, "front_end": spec.model_dump(), "normalisation": normalisation}
    audio = Inverter(manifest, rate, iters=32, seed=0).waveform(features.numpy(), rate)
    assert audio.shape == (rate,) and audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    strongest = np.argmax(np.abs(np.fft.rfft(audio))) * rate / audio.size
    assert abs(strongest - frequency) < 0.03 * frequency  # mel bands near 1 kHz are ~30 Hz wide
    if protocol == "corrected":  # the level survives: within a factor 2 of the original's RMS
        assert 0.5 < np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(tone.numpy() ** 2)) < 2.0


def test_the_readme_section_is_replaced_and_nothing_else(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    patch_readme(readme, "| new | table |\n", MARKERS)
    assert readme.read_text() == f"# title\n\nbefore\n{BEGIN}\n| new | table |\n{END}\nafter\n"
    readme.write_text("no markers here\n")
    with pytest.raises(Exception, match="results:syntone"):
        patch_readme(readme, "x", MARKERS)
    assert readme.read_text() == "no markers here\n"


def _check_loads(page: Path, screenshot: Path) -> dict:
    """No error, every image decoded, every audio clip playable, every link resolving."""
    seen = inspect_page(page, screenshot)
    assert seen["errors"] == [], seen["errors"]
    assert seen["images"], "the page shows no figure"
    assert [image["src"] for image in seen["images"] if image["width"] <= 0] == []
    assert seen["audio"], "the page has no audio player"
    assert [a["src"] for a in seen["audio"] if not a["duration"] > 0] == []
    for link in seen["links"]:
        if link.startswith("#"):
            assert link[1:] in seen["anchors"], f"dangling anchor {link}"
        else:
            assert "://" not in link, f"{link}: the page must be self-contained"
            assert (page.parent / link).is_file(), f"broken link {link}"
    assert screenshot.stat().st_size > 10_000
    return seen


def _check_page(page: Path, screenshot: Path) -> dict:
    seen = _check_loads(page, screenshot)
    table = pd.read_csv(page.parent / "syntone" / "results.csv")
    expected = [
        [model, LABELS.get(metric, metric)] for model, metric in zip(table.model, table.metric, strict=True)
    ]
    assert seen["rows"] == expected
    return seen


def test_the_committed_report_loads_in_a_browser(tmp_path: Path) -> None:
    page = REPO / "reports" / "index.html"
    seen = _check_page(page, tmp_path / "committed.png")
    models = {row[0] for row in seen["rows"]}
    assert models == {"vae", "beta_vae", "factor_vae", "beta_tcvae"}
    files = [path for path in (REPO / "reports" / "syntone").rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in [page, *files]) <= PAGE_LIMIT


def test_the_pipeline_report_shows_every_run_and_fills_the_readme(
    reproduced: Path, tmp_path: Path, tracking_uri: str
) -> None:
    page = reproduced / "reports" / "index.html"
    seen = _check_page(page, tmp_path / "tiny.png")
    assert {row[0] for row in seen["rows"]} == set(TINY["training"]["models"])
    html = page.read_text()
    assert html.count('<tr id="run-') == 4 + 4  # paper and corrected: 2 models x 2 seeds each
    for summary in (reproduced / "artifacts" / "syntone").glob("*/models/*/seed*/training.json"):
        origin = json.loads(summary.read_text())["provenance"]  # the report shows what training recorded
        assert origin["mlflow_run_id"] in html and origin["git_commit"][:10] in html
        model = summary.parent / "model.pt"
        assert f'<code title="{hashlib.sha256(model.read_bytes()).hexdigest()}">' in html
    readme = (reproduced / "README.md").read_text()
    section = readme[readme.index(BEGIN) : readme.index(END)]
    assert "| factor_vae | mig | ↑ |" in section and "(2 seeds)" in section
    assert "| vae | 4 corrected |" in readme and 'id="ladder-table"' in html
    assert (reproduced / "reports" / "syntone" / "held-out-curves.png").stat().st_size > 10_000
    for curve in ("vae-paper-seed0", "factor_vae-corrected-seed1"):
        frame = pd.read_csv(reproduced / "reports" / "syntone" / "plots" / "training" / f"{curve}.csv")
        assert frame["epoch"].tolist() == [1, 2] and frame["loss"].notna().all()
    plots = json.loads(dvc(reproduced, "plots", "show", "--json", tracking_uri=tracking_uri).stdout)["data"]
    assert len([name for name in plots if "/plots/training/" in name]) == 8  # 2 models x 2 seeds x 2
    probes = plots["reports/syntone/plots/probes.csv"][0]["content"]["data"]["values"]
    expected = {f"{m} / {f}" for m in ("vae", "factor_vae") for f in LINEAR_PROBES}
    assert {row["probe"] for row in probes} == expected


def test_a_failed_report_keeps_the_previous_one(reproduced: Path, tmp_path: Path, cli) -> None:
    project = tmp_path / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    before = {p: p.read_bytes() for p in (project / "reports").rglob("*") if p.is_file()}
    model = project / "artifacts" / "syntone" / "corrected" / "models" / "vae" / "seed0" / "model.pt"
    model.unlink()
    model.write_bytes(b"truncated")
    result = cli("report", "--readme", "README.md", cwd=project)
    assert result.returncode == 2
    assert "model.pt" in result.stderr and "re-run its training stage" in result.stderr
    after = {p: p.read_bytes() for p in (project / "reports").rglob("*") if p.is_file()}
    assert after == before


def test_the_report_reads_latent_information_from_the_evaluation(
    reproduced: Path, tmp_path: Path, cli
) -> None:
    project = tmp_path / "project"
    shutil.copytree(reproduced, project, symlinks=True)
    result = project / "artifacts" / "syntone" / "corrected" / "eval" / "vae-seed0.json"
    written = json.loads(result.read_text())
    assert set(written["information"]) == {"waveform", "frequency", "amplitude"}
    assert all(
        len(row) == len(written["held_out"]["kl_per_dimension"]) and all(-1e-9 <= v <= 1 + 1e-9 for v in row)
        for row in written["information"].values()
    )
    del written["information"]  # as an evaluation written before the field existed
    result.write_text(json.dumps(written))
    failed = cli("report", cwd=project)
    assert failed.returncode == 2 and "dvc repro evaluate_corrected@vae-0" in failed.stderr


def test_latent_information_is_one_for_a_code_that_is_the_factor_and_zero_for_a_constant() -> None:
    rng = np.random.default_rng(0)
    truth = np.column_stack(
        [rng.integers(0, 4, 2_000), rng.uniform(100, 8_000, 2_000), rng.uniform(0.1, 1, 2_000)]
    )
    codes = np.column_stack([truth[:, 0], np.zeros(2_000), truth[:, 2]])
    information = latent_information(truth, codes, bins=20)
    assert information["waveform"][0] == pytest.approx(1.0)
    assert information["amplitude"][2] == pytest.approx(1.0)
    assert all(row[1] == 0.0 for row in information.values())


def _check_speech_page(page: Path, screenshot: Path, models: set[str], level: dict[str, set[str]]) -> dict:
    """Every version's tables hold the baselines and `models`, plus `level[version]`'s rows of
    the level-normalised arm. `models` names the representations scored from codes too."""
    seen = _check_loads(page, screenshot)
    table = pd.read_csv(page.parent / "speech" / "results.csv")
    for version in table["version"].unique():
        arm = {f"{model} (level-normalised)" for model in level.get(version, ())}
        scored = {"rave_style", "acids_rave"}  # where speech.scored declares them
        arm |= scored & set(table.loc[table["version"] == version, "model"])
        assert set(seen["tables"][f"probes-{version}"]) == {*BASELINES, *models, *arm}
        assert set(seen["tables"][f"suite-{version}"]) == {*models, *arm}  # baselines have no metrics suite
    return seen


def test_the_committed_speech_report_loads_in_a_browser(tmp_path: Path) -> None:
    page = REPO / "reports" / "speech.html"
    _check_speech_page(
        page,
        tmp_path / "speech.png",
        {"vae", "beta_vae", "factor_vae", "beta_tcvae"},
        {"medium": {"beta_vae"}},
    )
    files = [path for path in (REPO / "reports" / "speech").rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in [page, *files]) <= PAGE_LIMIT


def test_the_pipeline_speech_report_shows_every_version_and_fills_the_readme(
    reproduced: Path, tmp_path: Path
) -> None:
    page = reproduced / "reports" / "speech.html"
    _check_speech_page(page, tmp_path / "speech.png", set(TINY["speech"]["models"]), {"medium": {"vae"}})
    html = page.read_text()
    assert html.count("<code>speech_train@") == 2 * 2  # training.json's provenance, no MLflow needed
    assert html.count("<code>speech_train_level@") == 1  # the level-normalised arm: Medium's vae
    assert html.count("<td>noise codes</td>") == 2  # the estimator's floor beside the models, per version
    assert html.count("<code>speech_evaluate@") == 2 * 2  # 2 versions x 2 models, seed 0
    assert html.count("<code>score_rave_style@") == 1  # scored from codes: its provenance came with them
    assert html.count("<code>rave_train@") == 1
    readme = (reproduced / "README.md").read_text()
    section = readme[readme.index(SPEECH_MARKERS[0]) : readme.index(SPEECH_MARKERS[1])]
    for version in ("small", "medium"):
        assert f"**{version}: linear probes**" in section and f"**{version}: disentanglement**" in section
    assert "| logmel_stats (1 seed) |" in section and "| level_duration_f0 (1 seed) |" in section


def test_the_pipeline_rave_report_plays_its_reconstructions_and_traversals(
    reproduced: Path, tmp_path: Path
) -> None:
    page = reproduced / "reports" / "rave.html"
    seen = _check_loads(page, tmp_path / "rave.png")
    html = page.read_text()
    assert html.count("<code>rave_train@") == 1 and 'id="provenance-table"' in html
    sweeps = validate(TINY).report.sweep_dimensions
    audio = [clip["src"] for clip in seen["audio"] if clip["src"].startswith("rave/")]
    assert len(audio) == 2 * 2 + sweeps  # Small: 2 clips x (original, decoded) + sweeps
    assert 'href="speech.html"' in html  # the numbers' page, a sibling in reports/
