"""The RAVE-style model's parts (synaudio.models.rave) with known answers, and the codes
folder (synaudio.codes) that carries any representation to the SynSpeech scoring."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from synaudio.codes import read_codes, write_codes
from synaudio.errors import UserError
from synaudio.models.rave import (
    PQMF,
    RaveObjective,
    RaveShape,
    RaveStyle,
    multiscale_spectral_distance,
    random_windows,
    rave_kl,
)
from synaudio.models.specs import RaveSpec
from synaudio.protocol import CORRECTED
from tests.conftest import REPO, TINY

SAMPLE_RATE = 16000
CLIP = 56000  # SynSpeech: 3.5 s at 16 kHz
# PQMF analysis then synthesis, 100 dB prototype: measured 0.15 % (noise) and 0.27 % (a sine)
# relative error away from the clip's ends - near-perfect reconstruction, as RAVE's.
PQMF_TOLERANCE = 0.005


def _relative_error(original: torch.Tensor, rebuilt: torch.Tensor, margin: int = 1024) -> float:
    inner = slice(margin, -margin)
    return float((rebuilt - original)[..., inner].norm() / original[..., inner].norm())


@pytest.mark.parametrize("bands", [16, 8])
def test_pqmf_analysis_then_synthesis_returns_the_signal(bands: int) -> None:
    pqmf = PQMF(bands)
    noise = torch.randn(2, 1, 16384, generator=torch.Generator().manual_seed(0))
    time = torch.arange(CLIP) / SAMPLE_RATE
    sine = (0.5 * torch.sin(2 * math.pi * 440 * time)).reshape(1, 1, -1)
    for signal in (noise, sine):
        split = pqmf(signal)
        assert split.shape == (signal.shape[0], bands, signal.shape[-1] // bands)
        assert _relative_error(signal, pqmf.inverse(split)) < PQMF_TOLERANCE


def test_pqmf_bands_split_the_spectrum() -> None:
    """A tone at a band's centre stays in it: 250 Hz in band 0 (0-500 Hz of 16 bands at
    16 kHz), 7,250 Hz in band 14 (7,000-7,500 Hz)."""
    pqmf = PQMF(16)
    time = torch.arange(16384) / SAMPLE_RATE
    for frequency, band in ((250.0, 0), (7250.0, 14)):
        energy = pqmf(torch.sin(2 * math.pi * frequency * time).reshape(1, 1, -1)).pow(2).sum(-1)[0]
        assert int(energy.argmax()) == band and energy[band] > 0.99 * energy.sum()


def test_pqmf_refuses_a_length_that_is_not_a_multiple_of_the_bands() -> None:
    with pytest.raises(ValueError, match="not a multiple of 16 bands"):
        PQMF(16)(torch.zeros(1, 1, 1000))


def test_shapes_at_16_khz() -> None:
    """RAVE v2_small's ratios on 16 bands: 512 samples (32 ms) per latent frame; a training
    window comes back whole, a 3.5 s clip to its last whole frame."""
    shape = RaveShape(capacity=4)
    network = RaveStyle(16, shape).eval()
    assert shape.hop == 512
    with torch.no_grad():
        window = network(torch.zeros(3, 1, 16384))
        clip = network(torch.zeros(2, 1, CLIP))
    assert window["mean"].shape == window["log_var"].shape == (3, 16, 32)
    assert window["reconstruction"].shape == (3, 1, 16384)
    assert clip["mean"].shape == (2, 16, CLIP // 512)
    assert clip["reconstruction"].shape == (2, 1, (CLIP // 512) * 512)


def test_spectral_distance_is_zero_for_the_signal_itself_and_grows_with_the_error() -> None:
    x = torch.randn(2, 1, 4096, generator=torch.Generator().manual_seed(1))
    assert float(multiscale_spectral_distance(x, x)) == 0.0
    near, far = (multiscale_spectral_distance(x, x + s * torch.randn_like(x)) for s in (0.01, 0.5))
    assert 0 < float(near) < float(far)


def test_rave_kl_is_zero_at_the_prior_and_twice_the_gaussian_kl() -> None:
    zeros = torch.zeros(2, 4, 3)
    assert float(rave_kl(zeros, zeros)) == 0.0
    mean = torch.ones(1, 4, 1)  # KL(N(1, 1) || N(0, 1)) = 1/2 per channel, RAVE's sum: 2 x 4 x 1/2
    assert float(rave_kl(mean, zeros[:1, :, :1])) == pytest.approx(4.0)


def test_random_windows_are_seeded_scaled_and_inside_the_clip() -> None:
    clips = torch.arange(4 * 100, dtype=torch.int16).reshape(4, 1, 100)
    torch.manual_seed(3)
    first = random_windows(clips, 16)
    torch.manual_seed(3)
    assert torch.equal(first, random_windows(clips, 16))
    assert first.shape == (4, 1, 16) and first.dtype == torch.float32
    starts = (first[:, 0, 0] * 32767.0).round() - torch.arange(4) * 100
    assert ((starts >= 0) & (starts <= 84)).all()
    assert torch.equal(torch.diff(first[:, 0], dim=1) * 32767.0, torch.ones(4, 15))


def test_the_objective_weighs_the_kl_by_warm_up_and_beta() -> None:
    spec = RaveSpec(objective="rave", beta=0.05, crop_samples=2048, scales=[512, 128])
    objective = RaveObjective(spec, 4, 100, CORRECTED.loss)
    network = RaveStyle(4, RaveShape(capacity=2))
    clips = (torch.randn(2, 1, 8192, generator=torch.Generator().manual_seed(2)) * 3000).to(torch.int16)
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        terms = objective.losses(clips, network, weight)
        expected = terms["spectral_distance"] + weight * 0.05 * terms["kl"]
        assert torch.allclose(terms["loss"], expected)


def _representation(**changes: object) -> dict[str, object]:
    return {"model": "mine", "seed": 0, "latents": "test codes", "dataset_digest": "d" * 64,
            "held_out": {}, "provenance": {"stages": []}, **changes}  # fmt: skip


def test_codes_round_trip_and_refuse_other_data(tmp_path: Path) -> None:
    codes = np.random.default_rng(0).standard_normal((5, 3))
    write_codes(tmp_path / "codes", codes, _representation())
    read, representation = read_codes(tmp_path / "codes", 5, "d" * 64)
    assert np.array_equal(read, codes) and representation["latents"] == "test codes"
    with pytest.raises(UserError, match="made from another dataset"):
        read_codes(tmp_path / "codes", 5, "e" * 64)
    with pytest.raises(UserError, match=r"expected \(6, D\) floats"):
        read_codes(tmp_path / "codes", 6, "d" * 64)
    with pytest.raises(UserError, match="no codes"):
        read_codes(tmp_path / "elsewhere", 5, "d" * 64)


def test_codes_with_nan_or_missing_keys_are_refused(tmp_path: Path) -> None:
    codes = np.zeros((2, 2))
    codes[1, 1] = np.nan
    write_codes(tmp_path / "nan", codes, _representation())
    with pytest.raises(UserError, match="NaN or infinite"):
        read_codes(tmp_path / "nan", 2, "d" * 64)
    write_codes(tmp_path / "keys", np.zeros((2, 2)), _representation())
    (tmp_path / "keys" / "representation.json").write_text(json.dumps({"model": "mine"}))
    with pytest.raises(UserError, match="needs the keys"):
        read_codes(tmp_path / "keys", 2, "d" * 64)


def test_speech_score_refuses_undeclared_names_and_codes_of_other_data(
    reproduced: Path, cli, tmp_path: Path, write_params
) -> None:
    """On the tiny pipeline's own data: an undeclared representation, and Small's codes
    offered as Medium's (declared for the occasion), stop with the reason and write nothing."""
    tree = copy.deepcopy(TINY)
    tree["speech"]["scored"]["rave_style"]["versions"] = ["small", "medium"]
    tree["rave"]["epochs"]["medium"] = 1
    params = ["--params", write_params(tree)]
    common = ["--seed", "0", "--out", tmp_path / "eval.json"]
    medium = ["--version", "medium", "--dataset", "artifacts/synspeech/medium/dataset"]
    small_codes = "artifacts/rave/small/codes/seed0"
    undeclared = cli(
        *params, "speech-score", *medium, "--name", "mine", "--codes", small_codes, *common, cwd=reproduced
    )
    assert (
        undeclared.returncode == 2
        and "--name mine --version medium --seed 0: not declared" in undeclared.stderr
    )
    swapped = cli(
        *params,
        "speech-score",
        *medium,
        "--name",
        "rave_style",
        "--codes",
        small_codes,
        *common,
        cwd=reproduced,
    )
    assert swapped.returncode == 2 and "the codes were made from another dataset" in swapped.stderr
    assert not (tmp_path / "eval.json").exists()


def _acids_tree(steps: int) -> dict:
    tree = copy.deepcopy(TINY)
    tree["speech"]["scored"]["acids_rave"] = {"versions": ["small"], "seeds": [0]}
    tree["acids_rave"] = {"steps": steps}
    return tree


def _acids_command(tmp_path: Path) -> list:
    return [
        "rave-acids", "--version", "small", "--seed", "0", "--dataset", "artifacts/synspeech/small/dataset",
        "--model-dir", tmp_path / "model", "--out", tmp_path / "codes", "--work", tmp_path / "work",
    ]  # fmt: skip


def test_acids_rave_without_its_venv_names_the_make_target_and_writes_nothing(
    reproduced: Path, cli, tmp_path: Path, write_params
) -> None:
    params = ["--params", write_params(_acids_tree(3))]
    missing = cli(
        *params, *_acids_command(tmp_path), cwd=reproduced, env={"ACIDS_RAVE_VENV": str(tmp_path / "no")}
    )
    assert missing.returncode == 2 and "make acids-venv" in missing.stderr
    assert not any(tmp_path.glob("model*")) and not (tmp_path / "codes").exists()


def test_acids_scratch_folder_is_emptied_only_when_it_is_ours(tmp_path: Path) -> None:
    from synaudio.studies.rave.acids import scratch_folder

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(UserError, match="not an acids_rave scratch folder"):
        scratch_folder(foreign)
    assert (foreign / "thesis.tex").read_text() == "mine"
    ours = scratch_folder(tmp_path / "ours")
    (ours / "lmdb").mkdir()
    assert list(scratch_folder(ours).iterdir()) == [ours / ".synaudio-acids-scratch"]


def test_acids_window_must_fit_an_example() -> None:
    from synaudio.params import AcidsRave

    with pytest.raises(ValueError, match="exceeds chunk_samples"):
        AcidsRave(n_signal=262144)


@pytest.mark.slow
def test_the_real_rave_trains_encodes_and_is_scored(
    reproduced: Path, cli, tmp_path: Path, write_params
) -> None:
    """acids-rave 2.3.1 for real (its venv: make acids-venv), 3 steps on the tiny Small:
    codes for every clip, repeatable, scored by speech-score."""
    from synaudio.studies.rave.acids import VENV_VARIABLE

    venv = Path(os.environ.get(VENV_VARIABLE, REPO / ".venv-acids"))
    if not (venv / "bin" / "python").is_file():
        pytest.skip(f"no acids-rave venv at {venv}: make acids-venv")
    params = ["--params", write_params(_acids_tree(3))]
    env = {VENV_VARIABLE: str(venv)}
    cli(*params, *_acids_command(tmp_path), cwd=reproduced, env=env, check=True)
    first = np.load(tmp_path / "codes" / "codes.npy")
    cli(*params, *_acids_command(tmp_path), cwd=reproduced, env=env, check=True)
    assert first.shape == (40, 128) and np.array_equal(first, np.load(tmp_path / "codes" / "codes.npy"))
    representation = json.loads((tmp_path / "codes" / "representation.json").read_text())
    assert representation["provenance"]["training"]["epochs"] == "3 steps (acids-rave 2.3.1)"
    cli(*params, "speech-score", "--version", "small", "--name", "acids_rave", "--seed", "0",
        "--dataset", "artifacts/synspeech/small/dataset", "--codes", tmp_path / "codes",
        "--out", tmp_path / "eval.json", cwd=reproduced, check=True)  # fmt: skip
    assert json.loads((tmp_path / "eval.json").read_text())["model"] == "acids_rave"
