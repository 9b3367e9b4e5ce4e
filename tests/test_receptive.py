"""Analytic receptive fields (models/receptive.py): known answers, a gradient check on a
network whose every weight is one, and the archive's encoders at their input sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synaudio.models.backbone import Encoder
from synaudio.models.presets import SPEECH, SYNTONE
from synaudio.models.rave import PQMF, RaveEncoder, RaveShape
from synaudio.models.receptive import receptive_fields
from synaudio.models.speech_encoder import SpeechEncoder


def test_conv_pool_conv_known_answer() -> None:
    conv = nn.Conv2d(1, 2, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))
    fields = receptive_fields(net, torch.zeros(1, 1, 8, 16))
    assert [(f.layer, f.size, f.jump, f.output) for f in fields] == [
        ("0", (3, 3), (1, 1), (8, 16)),
        ("2", (4, 4), (2, 2), (4, 8)),
        ("3", (8, 8), (2, 2), (4, 8)),
    ]
    assert not any(f.covers for f in fields)  # 8 spans the 8 bins, not the 16 frames
    assert receptive_fields(net, torch.zeros(1, 1, 8, 8))[-1].covers


def test_dilation_stride_and_a_dense_head() -> None:
    convs = [nn.Conv1d(1, 1, 3, dilation=4), nn.Conv1d(1, 1, 4, stride=2)]
    net = nn.Sequential(*convs, nn.Flatten(), nn.Linear(5, 1))
    fields = receptive_fields(net, torch.zeros(1, 1, 20))
    assert [(f.size, f.jump) for f in fields] == [((9,), (1,)), ((12,), (2,)), ((20,), (2,)), ((20,), (2,))]
    assert [f.covers for f in fields] == [False, False, True, True]


def _gradient_extent(net: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Input positions with a non-zero gradient from the output grid's centre unit."""
    x = torch.zeros(shape, requires_grad=True)
    out = net(x)
    centre = tuple(n // 2 for n in out.shape[2:])
    out[(0, 0, *centre)].backward()
    hit = x.grad[0, 0].nonzero()
    return tuple(int(hit[:, axis].max() - hit[:, axis].min() + 1) for axis in range(hit.shape[1]))


def test_fields_match_the_gradient_of_an_all_ones_network() -> None:
    """With every weight one and no activation, an output depends on exactly its field."""
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, (5, 3), dilation=(2, 1)),
        nn.Conv2d(1, 1, 3, stride=2), nn.AvgPool2d((1, 2)),
    )  # fmt: skip
    for layer in net:
        if isinstance(layer, nn.Conv2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    shape = (1, 1, 96, 80)
    assert receptive_fields(net, torch.zeros(shape))[-1].size == _gradient_extent(net, shape)


def test_the_archive_encoders_at_their_input_sizes() -> None:
    """SynTone's 3 blocks on 128 x 32 mels never span the input before the dense layers;
    the speech preset's 4 blocks on 64 x 128 do not either (46 positions after block 4), nor
    the self-supervised encoder's, which has the same geometry."""
    syntone = receptive_fields(Encoder(8, 128, 32, SYNTONE), torch.zeros(1, 1, 128, 32))
    assert [f.size[0] for f in syntone if f.kind == "Conv2d"] == [3, 8, 18]
    assert next(f.layer for f in syntone if f.covers) == "body.9"  # the flatten before the first dense layer
    speech = receptive_fields(Encoder(16, 64, 128, SPEECH), torch.zeros(1, 1, 64, 128))
    assert [f.size for f in speech if f.kind == "MaxPool2d"] == [(4, 4), (10, 10), (22, 22), (46, 46)]
    assert speech[-1].covers and not any(f.covers for f in speech if f.kind not in ("Linear", "Flatten"))
    ssl = receptive_fields(SpeechEncoder((16, 32, 64, 128)), torch.zeros(1, 1, 64, 128))  # BatchNorm: none
    assert [f.size for f in ssl if f.kind == "MaxPool2d"] == [(4, 4), (10, 10), (22, 22), (46, 46)]


def test_a_pqmf_bank_counts_as_the_strided_filter_it_is() -> None:
    """The RAVE-style encoder's PQMF analysis is a filter of `taps` samples at a stride of
    `bands`: the field after it and a convolution matches the gradient's extent."""
    pqmf = PQMF(4)
    net = nn.Sequential(pqmf, nn.Conv1d(4, 1, 3))
    nn.init.zeros_(net[1].weight)
    with torch.no_grad():
        net[1].weight[:, 0] = 1.0  # one band: the bands' filters cancel at their ends when summed
    fields = receptive_fields(net, torch.zeros(1, 1, 512))
    assert (fields[0].kind, fields[0].size, fields[0].jump) == ("PQMF", (pqmf.taps,), (4,))
    assert fields[-1].size == (pqmf.taps + 2 * 4,) == _gradient_extent(net, (1, 1, 512))


def test_the_waveform_encoder_never_sees_a_whole_clip() -> None:
    """RAVE v2's layout (16 bands, strides 4, 2, 2, 2): a latent frame every 512 samples,
    each seeing 10,239 samples (0.64 s) of a 3.5 s SynSpeech clip."""
    rave = receptive_fields(RaveEncoder(RaveShape(), 16, PQMF(16)), torch.zeros(1, 1, 56_000))
    assert (rave[-1].size, rave[-1].jump, rave[-1].output) == ((10_239,), (512,), (109,))
    assert not any(f.covers for f in rave)


def test_an_unknown_layer_type_stops_the_walk() -> None:
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ConvTranspose2d(1, 1, 3))
    with pytest.raises(ValueError, match=r"1 \(ConvTranspose2d\): no receptive-field rule"):
        receptive_fields(net, torch.zeros(1, 1, 8, 8))
