"""The input-size sweep (studies/analyses/input_size.py) and the analyses' report page
(studies/analyses/report.py): the grid's checks, the fields it marks, the page's pieces,
and both stages' outputs on the tiny pipeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from synaudio.errors import UserError
from synaudio.params import validate
from synaudio.studies.analyses import input_size, report


def test_the_grid_must_give_inputs_the_encoder_can_halve_three_times() -> None:
    with pytest.raises(UserError, match=r"analyses\.input_size\.n_mels: \[36\] are not multiples of 8"):
        validate({"analyses": {"input_size": {"n_mels": [32, 36]}}})
    params = validate({"analyses": {"input_size": {"hop_lengths": [500]}}})  # frames: the stage checks
    with pytest.raises(UserError, match=r"32 mels x hop 500 gives 32 x 33 \(frames = "):
        input_size.input_for(params, 32, 500)
    with pytest.raises(UserError, match=r"analyses\.input_size\.models: \['nope'\] have no block"):
        validate({"analyses": {"input_size": {"models": ["nope"]}}})
    assert input_size.input_for(params, 64, 1024) == (64, 16)


def test_each_block_is_marked_with_the_axes_its_field_spans() -> None:
    assert input_size.block_fields(32, 8) == {"block1": (4, 4), "block2": (10, 10), "block3": (22, 22)}
    assert input_size.spans((22, 22), (128, 32)) == "neither"
    assert input_size.spans((10, 10), (128, 8)) == "frames"
    assert input_size.spans((22, 22), (16, 32)) == "mels"
    assert input_size.spans((22, 22), (16, 16)) == "both"
    assert input_size.spans(None, (128, 32)) == "both"  # a dense layer sees the whole input


def test_the_page_renders_markdown_tables_escaped() -> None:
    page = report.markdown_html("| a | `b<c` |\n|---|---:|\n| 1 | x&y |\n\nnote <here>\n")
    assert page == (
        "<table><thead><tr><th>a</th><th>b&lt;c</th></tr></thead><tbody><tr><td>1</td><td>x&amp;y</td></tr>"
        "</tbody></table>\n<p>note &lt;here&gt;</p>"
    )
    assert report.span([0.621, 0.649, 0.63]) == "0.62-0.65" and report.span([0.5, 0.501]) == "0.50"


def test_the_pipeline_sweeps_input_sizes_beside_their_fields(reproduced: Path, tracking_uri: str) -> None:
    out = reproduced / "artifacts" / "analyses" / "input_size" / "sweep"
    curves = pd.read_csv(out / "input_size.csv")
    assert list(dict.fromkeys(curves["input"])) == ["32 x 16", "32 x 8"]
    assert sorted(set(curves["epoch"])) == [0, 1, 2] and curves["saturation"].between(0, 1).all()
    last = curves[(curves["epoch"] == 2) & (curves["input"] == "32 x 8")].set_index("layer")
    assert last.loc["block2", "spans"] == "frames" and last.loc["block3", "spans"] == "frames"
    assert last.loc["block1", "spans"] == "neither" and last.loc["mean", "field"] == "all"
    assert "| vae 32 x 8 | block2 | 10 x 10 | frames |" in (out / "input_size.md").read_text()
    assert (out / "input_size.png").stat().st_size > 10_000
    paper = reproduced / "artifacts" / "analyses" / "paper_input_size"
    curves = pd.read_csv(paper / "sweep" / "input_size.csv")  # the paper protocol's recipe, its own grid
    assert list(dict.fromkeys(curves["input"])) == ["32 x 8"] and curves["epoch"].max() == 2
    trained = json.loads((paper / "models/mels32-hop2048/vae/seed0/training.json").read_text())
    run = MlflowClient(tracking_uri).get_run(trained["provenance"]["mlflow_run_id"])
    assert trained["protocol"] == "paper" and run.info.run_name == "input size (paper) 32x8 vae/seed0"
    speech = reproduced / "artifacts" / "analyses" / "speech_input_size"
    curves = pd.read_csv(speech / "sweep" / "input_size.csv")  # the SynSpeech encoder: four blocks
    last = curves[curves["epoch"] == 1].set_index("layer")
    assert list(dict.fromkeys(curves["input"])) == ["32 x 64"] and last.loc["block4", "spans"] == "mels"
    assert {"probe_speaker_id", "probe_keyword"} <= set(curves)
    trained = json.loads((speech / "models/mels32-hop876/vae/seed0/training.json").read_text())
    run = MlflowClient(tracking_uri).get_run(trained["provenance"]["mlflow_run_id"])
    assert run.info.run_name == "input size (SynSpeech) 32x64 vae/seed0"


def test_the_pipeline_writes_one_page_for_every_analysis(reproduced: Path) -> None:
    reports = reproduced / "reports"
    page = (reports / "analyses.html").read_text()
    for section in ("fields", "speech", "syntone", "similarity", "dynamics", "paper_dynamics",
                    "speech_dynamics", "input_size", "paper_input_size", "speech_input_size",
                    "provenance"):  # fmt: skip
        assert f'id="{section}"' in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 23 and all((reports / src).stat().st_size > 10_000 for src in images)
    assert "<td>input_size mels32-hop2048/vae/seed0</td>" in page and "{{" not in page
    assert "<td>paper_input_size mels32-hop2048/vae/seed0</td>" in page
    assert "<td>speech_input_size mels32-hop876/vae/seed0</td>" in page
