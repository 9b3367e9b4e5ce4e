"""Typed, validated experiment parameters (params.yaml).

The defaults are params.yaml's values: the scale the committed results were made at
(params.full.yaml lists the few keys that restore the papers' full grid).

Every command loads the whole file through `load_params` before doing any work, so a
typo anywhere - an unknown key, a wrong type, an impossible value - stops the run with
one line per problem naming the key, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from synaudio.errors import UserError
from synaudio.models.presets import SPEECH, SYNTONE
from synaudio.models.specs import SPECS, AnySpec, BetaTCVAESpec, FactorVAESpec, VAESpec

WAVEFORMS = ("sine", "triangle", "sawtooth", "square")
MAX_SEED = 2**32 - 1  # numpy's and torch's seeding range
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Seeds = Annotated[list[Seed], Field(min_length=1)]
MAX_CLIPS = 2_000_000  # SynTone grid bound (62x the paper's): its factor table is built in memory
MAX_LATENT_DIM = 1024
RAVE = "rave_style"  # the RAVE study's representation under speech.scored
ACIDS = "acids_rave"  # the RAVE study's cross-check: the real RAVE (rave.acids)
RANDOM_ENCODER = "random"  # the self-supervised study's baseline: its encoder as initialised
SCRATCH = "scratch"  # ... and its fine-tuning baseline: that encoder trained on the labels alone
LOG_MEL = "log_mel"  # ... and its no-network baseline: each mel band's mean over time
SYNTONE_INPUT = (128, 32)  # mels x frames of the reference network (its FC layers are sized for it)


def _invalid(field: str, reason: str) -> PydanticCustomError:
    """An error for a value that is wrong only in combination with others; `field` is
    the sub-key it belongs to, so the message can name the full key."""
    return PydanticCustomError("invalid_combination", reason, {"field": field})


class _Section(BaseModel):
    """Strict: no coercion of "16000" to 16000, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class LinearGrid(_Section):
    """Evenly spaced values from `start` to `stop`, both included (numpy.linspace)."""

    start: float = Field(gt=0)
    stop: float = Field(gt=0)
    levels: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LinearGrid:
        if self.levels > 1 and self.stop <= self.start:
            raise _invalid("stop", f"stop ({self.stop}) must be greater than start ({self.start})")
        if self.levels == 1 and self.stop != self.start:
            raise _invalid("levels", "a single level needs start == stop")
        return self


class SynTone(_Section):
    """SynTone generator (spec: SYNTONE.md section 1). Paper-scale defaults."""

    sample_rate: int = Field(default=16000, ge=1000)
    duration: float = Field(default=1.0, gt=0, le=60)
    waveforms: list[Literal["sine", "triangle", "sawtooth", "square"]] = Field(
        default_factory=lambda: list(WAVEFORMS), min_length=1
    )
    amplitude: LinearGrid = LinearGrid(start=0.1, stop=1.0, levels=20)
    frequency: LinearGrid = LinearGrid(start=440.0, stop=8000.0, levels=400)
    synthesis: Literal["naive", "bandlimited"] = "naive"
    sample_format: Literal["float32", "int16"] = "float32"
    chunk_mb: int = Field(default=64, ge=1, le=4096)

    @model_validator(mode="after")
    def _physical(self) -> SynTone:
        if len(set(self.waveforms)) != len(self.waveforms):
            raise _invalid("waveforms", f"waveforms repeat a name: {self.waveforms}")
        if self.amplitude.stop > 1.0:
            raise _invalid("amplitude.stop", f"{self.amplitude.stop} exceeds full scale 1.0")
        nyquist = self.sample_rate / 2
        if self.frequency.stop > nyquist:
            raise _invalid(
                "frequency.stop",
                f"{self.frequency.stop} Hz is above the Nyquist frequency {nyquist} Hz (sample_rate / 2)",
            )
        if round(self.duration * self.sample_rate) < 2:
            raise _invalid("duration", "duration * sample_rate must give at least 2 samples")
        if self.n_clips > MAX_CLIPS:
            raise _invalid(
                "frequency.levels",
                f"the grid has {self.n_clips:,} clips (waveforms x amplitude.levels x frequency.levels); "
                f"at most {MAX_CLIPS:,} fit in memory",
            )
        return self

    @property
    def clip_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    @property
    def n_clips(self) -> int:
        return len(self.waveforms) * self.amplitude.levels * self.frequency.levels


class Features(_Section):
    """Front-end settings shared by both protocols (SYNTONE.md section 2)."""

    n_fft: int = Field(default=2048, ge=16)
    hop_length: int = Field(default=512, ge=1)
    n_mels: int = Field(default=128, ge=8)
    top_db: float = Field(default=80.0, gt=0)
    batch_clips: int = Field(default=1000, ge=1)


class Split(_Section):
    """Train / held-out split of the clips: random, not stratified (the reference's)."""

    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: Seed = 42


class Training(_Section):
    """Optimisation shared by every model; a model's block may override batch and epochs."""

    models: list[str] = Field(
        default_factory=lambda: ["vae", "beta_vae", "factor_vae", "beta_tcvae"], min_length=1
    )
    latent_dim: int = Field(default=8, ge=1, le=MAX_LATENT_DIM)
    lr: float = Field(default=1e-3, gt=0)
    batch_size: int = Field(default=64, ge=2)
    epochs: int = Field(default=20, ge=1)
    paper_seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])
    corrected_seeds: Seeds = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    corrected_epochs: int | None = Field(default=10, ge=1)  # None: as the paper protocol (full scale)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Lightning DDP (synaudio.training): `devices` processes on each of `num_nodes` machines,
    # each a device (a GPU, or on a CPU a process of `threads` threads); gloo on CPUs, NCCL on
    # GPUs. 1 x 1 (the committed results): one process, no process group.
    devices: int = Field(default=1, ge=1)
    num_nodes: int = Field(default=1, ge=1)
    threads: int = Field(default=1, ge=1)
    channels_last: bool = True
    # Lightning's precision: 32-true (the committed results), bf16-mixed (CPU or GPU) or
    # 16-mixed (CUDA only); mixed precision changes the numbers - a switch, off by default.
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    # torch.compile (Inductor) the encoder and decoder: another floating-point order, so the
    # numbers change - a switch, off for the committed results (0.5x the eager step on a CPU).
    compile: bool = False

    def machine(self) -> dict[str, Any]:
        """Where and how every archive training runs (TrainingConfig's fields of that name):
        the same for every study's recipe."""
        names = ("device", "threads", "channels_last", "precision", "compile", "devices", "num_nodes")
        return {name: getattr(self, name) for name in names}


class Ladder(_Section):
    """The ablation ladder (synaudio.protocol.LADDER): the models and seeds whose rungs are
    run. Rungs 1 and 4 reuse the paper and corrected checkpoints of these seeds; rungs 2
    and 3 train one model per rung, model and seed."""

    models: list[str] = Field(default_factory=lambda: ["vae"], min_length=1)
    seeds: Seeds = Field(default_factory=lambda: [0])


class Evaluation(_Section):
    """SYNTONE.md section 4: `paper` re-evaluates sampled latents, `corrected` uses means."""

    paper_repeats: int = Field(default=10, ge=1)
    bins: int = Field(default=20, ge=2)
    dci_estimator: Literal["random_forest", "lasso", "gradient_boosting"] = "random_forest"
    # the table's 95 % intervals: percentile bootstrap of the mean over seeds
    bootstrap_resamples: int = Field(default=10_000, ge=100)
    bootstrap_seed: Seed = 0


def _default_models() -> dict[str, AnySpec]:
    return {
        "vae": VAESpec(objective="vae", beta=1.0),
        "beta_vae": VAESpec(objective="vae", beta=4.0),
        "factor_vae": FactorVAESpec(objective="factor_vae", batch_size=128, epochs=40),
        "beta_tcvae": BetaTCVAESpec(objective="beta_tcvae"),
    }


class VoiceBank(_Section):
    """SynSpeech's speakers, drawn from `seed`, alternating female / male: 250 cover the
    Large version's 249 (Small and Medium take the first 50 / 25). espeak-ng finds at
    most 349 voices per data directory."""

    seed: Seed = 0
    speakers: int = Field(default=250, ge=2, le=349)

    @model_validator(mode="after")
    def _balanced(self) -> VoiceBank:
        if self.speakers % 2:
            raise _invalid("speakers", f"{self.speakers} is odd: speakers alternate female / male")
        return self


SPEECH_SAMPLE_RATE = 16000  # SynSpeech's audio (its generator resamples espeak-ng's output to it)
STYLE_NAMES = ("default", "friendly", "sad", "whispering")


class SpeechVersion(_Section):
    """One grid: the first `speakers` of the bank x `texts` of its 500 x `styles`."""

    speakers: int = Field(ge=1, le=349)
    texts: int = Field(ge=1, le=500)
    styles: list[Literal["default", "friendly", "sad", "whispering"]] = Field(min_length=1)

    @property
    def n_clips(self) -> int:
        return self.speakers * self.texts * len(self.styles)


def _default_versions() -> dict[str, SpeechVersion]:
    styles = list(STYLE_NAMES)
    return {
        "small": SpeechVersion(speakers=50, texts=500, styles=["default"]),
        "medium": SpeechVersion(speakers=25, texts=500, styles=styles),
        "large": SpeechVersion(speakers=249, texts=110, styles=styles),
    }


class SynSpeech(_Section):
    """SynSpeech built offline (SYNSPEECH.md): the voice bank and the versions spoken with it."""

    voicebank: VoiceBank = VoiceBank()
    versions: dict[str, SpeechVersion] = Field(default_factory=_default_versions)
    clip_seconds: float = Field(default=3.5, gt=0, le=30)
    text_seed: Seed = 0  # which texts a version with fewer than 500 takes
    workers: int = Field(default=2, ge=1)  # synthesis processes; the bytes do not depend on it
    chunk_clips: int = Field(default=500, ge=1)  # resumable unit of an interrupted generation

    @model_validator(mode="after")
    def _fits_the_bank(self) -> SynSpeech:
        for name, version in self.versions.items():
            if version.speakers > self.voicebank.speakers:
                raise _invalid(
                    f"versions.{name}.speakers",
                    f"{version.speakers} exceeds the voice bank's {self.voicebank.speakers} speakers",
                )
        return self


class LevelArm(_Section):
    """The level-normalised front-end arm (issue 15): these models, on these versions, trained
    and evaluated on log-mels measured from each clip's own peak, at speech.seeds."""

    versions: list[str] = Field(default_factory=lambda: ["medium"])
    models: list[str] = Field(default_factory=lambda: ["beta_vae"])


class ScoredCodes(_Section):
    """A representation made outside the VAE family - another study's model or your own -
    whose per-clip codes `synaudio speech-score` scores like the VAE family's (its stage:
    score_<name>; README "Add your own model")."""

    versions: list[str]  # [] declares it without scoring it (quick: acids_rave needs its own venv)
    seeds: Seeds
    page: str | None = None  # its own report page in reports/ (audio, figures), linked from speech.html


class SpeechBenchmark(_Section):
    """The VAE family on SynSpeech (issue 6, part 4): front-end, split, training, evaluation.

    The objectives are the `models:` blocks' (their batch / epoch overrides are the SynTone
    study's and do not apply here); the loss is the per-sample ELBO (corrected protocol).
    """

    versions: list[str] = Field(default_factory=lambda: ["small", "medium"], min_length=1)
    features: Features = Features(n_fft=1024, hop_length=438, n_mels=64, top_db=80.0, batch_clips=250)
    split: Split = Split()
    models: list[str] = Field(
        default_factory=lambda: ["vae", "beta_vae", "factor_vae", "beta_tcvae"], min_length=1
    )
    seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])
    latent_dim: int = Field(default=16, ge=1, le=MAX_LATENT_DIM)
    batch_size: int = Field(default=64, ge=2)
    epochs: dict[str, int] = Field(default_factory=lambda: {"small": 2, "medium": 2})  # full: 20 each
    bins: int = Field(default=20, ge=2)
    level_normalised: LevelArm = LevelArm()
    scored: dict[str, ScoredCodes] = Field(
        default_factory=lambda: {
            RAVE: ScoredCodes(versions=["small", "medium"], seeds=[0, 1], page="rave.html"),
            ACIDS: ScoredCodes(versions=["small"], seeds=[0]),
        }
    )

    @model_validator(mode="after")
    def _consistent(self) -> SpeechBenchmark:
        missing = [v for v in self.versions if v not in self.epochs]
        if missing:
            raise _invalid("epochs", f"no epochs for version(s) {missing}")
        arm = self.level_normalised
        stray = [v for v in arm.versions if v not in self.versions]
        stray += [m for m in arm.models if m not in self.models]
        if stray:
            raise _invalid("level_normalised", f"{stray} not among speech.versions / speech.models")
        if any(e < 1 for e in self.epochs.values()):
            raise _invalid("epochs", f"every version needs at least 1 epoch, got {self.epochs}")
        for name, scored in self.scored.items():
            stray = [v for v in scored.versions if v not in self.versions]
            if stray or name in self.models:
                raise _invalid(
                    "scored",
                    f"{name}: versions {stray} not among speech.versions, or a models: block's name",
                )
        return self


class AcidsRave(_Section):
    """The real RAVE (acids-rave 2.3.1 in its own venv, `make acids-venv`) trained briefly on
    the RAVE-style model's training clips, as its cross-check (stage acids_rave; versions and
    seeds: speech.scored.acids_rave). Its own defaults except these (README: RAVE)."""

    config: str = Field(default="v2_small", min_length=1)  # a configuration acids-rave ships
    steps: int = Field(default=1500, ge=1)  # phase 1 only: the adversarial phase never starts
    n_signal: int = Field(default=65536, ge=1)  # samples per training window (RAVE: 131,072)
    batch_size: int = Field(default=2, ge=1)  # RAVE: 8
    chunk_samples: int = Field(default=131072, ge=1)  # training example: clips joined, cut (rave preprocess)

    @model_validator(mode="after")
    def _consistent(self) -> AcidsRave:
        if self.n_signal > self.chunk_samples:
            raise _invalid("n_signal", f"{self.n_signal} exceeds chunk_samples ({self.chunk_samples})")
        return self


class RaveBenchmark(_Section):
    """The RAVE-style waveform VAE on SynSpeech (issue 16; synaudio.models.rave): its size,
    loss and training. Its versions and seeds are speech.scored.rave_style's (scored like the
    VAE family: speech.split, speech.bins). CPU scale: capacity, latent size, steps and crops
    are far below RAVE v2's (README: deviations)."""

    latent_dim: int = Field(default=16, ge=1, le=MAX_LATENT_DIM)
    bands: int = Field(default=16, ge=2)  # PQMF bands
    capacity: int = Field(default=32, ge=1)  # the first stage's channels, doubled per stage
    ratios: list[int] = Field(default_factory=lambda: [4, 2, 2, 2], min_length=1)  # RAVE v2_small's
    dilations: list[list[int]] = Field(default_factory=lambda: [[1, 3, 9], [1, 3, 9], [1, 3, 9], [1, 3]])
    kernel: int = Field(default=3, ge=1)
    crop_samples: int = Field(default=16384, ge=1)  # a random window of each clip per step
    batch_size: int = Field(default=8, ge=2)
    epochs: dict[str, int] = Field(default_factory=lambda: {"small": 2, "medium": 1})
    lr: float = Field(default=1e-4, gt=0)  # Adam (0.9, 0.999), as every archive model
    beta: float = Field(default=0.05, ge=0)  # RAVE v2's target KL weight
    kl_warmup: float = Field(default=0.0, ge=0, le=1)  # fraction of the steps, linear from 0
    grad_clip: float | None = Field(default=100.0, gt=0)  # the gradient norm's cap (None: none)
    scales: list[int] = Field(default_factory=lambda: [2048, 1024, 512, 256, 128], min_length=1)

    @property
    def hop(self) -> int:
        """Samples per latent frame: bands x the product of the ratios."""
        hop = self.bands
        for ratio in self.ratios:
            hop *= ratio
        return hop

    @model_validator(mode="after")
    def _consistent(self) -> RaveBenchmark:
        if len(self.dilations) != len(self.ratios):
            raise _invalid("dilations", f"one list per ratio ({len(self.ratios)}), got {len(self.dilations)}")
        if any(r < 2 or r % 2 for r in self.ratios):
            raise _invalid("ratios", f"every ratio must be even and >= 2, got {self.ratios}")
        if self.kernel % 2 == 0 or any(d < 1 for stage in self.dilations for d in stage):
            raise _invalid("kernel", f"an odd kernel, dilations >= 1 keep frames centred (got {self.kernel})")
        if self.crop_samples % self.hop:
            raise _invalid("crop_samples", f"{self.crop_samples} is not a multiple of the hop ({self.hop})")
        if max(self.scales) > self.crop_samples:
            raise _invalid(
                "scales", f"a scale of {max(self.scales)} exceeds crop_samples ({self.crop_samples})"
            )
        if any(e < 1 for e in self.epochs.values()):
            raise _invalid("epochs", f"every version needs at least 1 epoch, got {self.epochs}")
        return self


class Traversal(_Section):
    """Latent traversal: each row varies one dimension over [-span, span] from the same base code."""

    span: float = Field(default=3.0, gt=0)
    steps: int = Field(default=10, ge=2)


class Report(_Section):
    """The report stage: which clips it shows, how it inverts mels to audio (Griffin-Lim)."""

    seed: Seed = 0
    examples: int = Field(default=3, ge=1, le=16)  # held-out clips per figure / audio set
    prior_samples: int = Field(default=6, ge=1, le=32)
    traversal: Traversal = Traversal()
    sweep_dimensions: int = Field(default=3, ge=1)  # audio sweeps along the most active latents
    griffin_lim_iters: int = Field(default=32, ge=1)


class Tracking(_Section):
    """MLflow tracking (see synaudio.tracking)."""

    enabled: bool = True
    experiment: str = Field(default="synaudio", min_length=1)


class SslViews(_Section):
    """How pretraining makes two views of a clip (synaudio.studies.ssl.views)."""

    crop_frames: int = Field(default=96, ge=16)  # time crop at a random offset (every view)
    p: float = Field(default=0.5, ge=0, le=1)  # chance of each of the other transforms
    snr_db: list[float] = Field(default_factory=lambda: [5.0, 30.0], min_length=2, max_length=2)
    time_mask: int = Field(default=16, ge=0)  # widest masked band, frames
    mel_mask: int = Field(default=8, ge=0)  # widest masked band, mels
    tilt_db: float = Field(default=6.0, ge=0)  # spectral tilt: ends within +- this

    @model_validator(mode="after")
    def _ordered(self) -> SslViews:
        if self.snr_db[1] < self.snr_db[0]:
            raise _invalid("snr_db", f"[low, high] in dB, got {self.snr_db}")
        return self


class SslObjective(_Section):
    """One pretraining objective (synaudio.studies.ssl.objectives): `normalisation` bt | l2
    (MBT, our reading) | width (MBT's width-normalised reading); lambda = lambda_d / D for bt
    and l2, lambda_d for width (its terms are already per-entry), so lambda_d = 1 is the
    usual balance for each; invariance_weight 0 or lambda_d 0 make the ablation arms."""

    normalisation: Literal["bt", "l2", "width"] = "bt"
    lambda_d: float = Field(default=1.0, ge=0)
    invariance_weight: float = Field(default=1.0, ge=0)

    def redundancy_weight(self, width: int) -> float:
        return self.lambda_d if self.normalisation == "width" else self.lambda_d / width


class SslPretraining(_Section):
    """Unlabelled pretraining clips: one SynSpeech version's speakers from `first_speaker`
    on (Small's and Medium's speakers are Large's first 50, so they stay unseen)."""

    version: str = "large"
    first_speaker: int = Field(default=50, ge=0)
    held_out: float = Field(default=0.02, gt=0, lt=1)  # clips kept out for the per-epoch loss
    seed: Seed = 0  # draws the held-out clips


class SslTask(_Section):
    """A downstream task: one factor (a factors.csv column) of one speech benchmark version."""

    version: str
    factor: str = Field(min_length=1)


def _default_tasks() -> dict[str, SslTask]:
    return {
        "speaker": SslTask(version="small", factor="speaker_index"),
        "gender": SslTask(version="small", factor="gender"),
        "keyword": SslTask(version="small", factor="keyword_id"),
        "style": SslTask(version="medium", factor="style_index"),  # Small has one style
    }


class SslFinetune(_Section):
    """Full fine-tuning (synaudio.studies.ssl.finetune): each pretrained `methods` encoder and
    the from-scratch baseline (the same encoder as initialised), with a linear head, trained
    on a task's labelled clips; held-out accuracy of `eval_clips` fixed clips at the steps of
    `evaluate_at` (0: before any update; the last: the run's length)."""

    methods: list[str] = Field(default_factory=lambda: ["bt", "mbt_l2", "mbt_width"])
    seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])
    tasks: list[str] = Field(default_factory=lambda: ["speaker", "keyword"], min_length=1)
    fractions: list[float] = Field(default_factory=lambda: [0.01, 0.1, 1.0], min_length=1)
    evaluate_at: list[int] = Field(default_factory=lambda: [0, 25, 50, 100, 200], min_length=2)
    batch_size: int = Field(default=64, ge=1)  # drawn with replacement from the labelled clips
    lr: float = Field(default=1e-3, gt=0)  # Adam, encoder and head alike
    eval_clips: int = Field(default=500, ge=1)  # a fixed, seeded sample of the held-out clips

    @model_validator(mode="after")
    def _ordered(self) -> SslFinetune:
        if self.evaluate_at != sorted(set(self.evaluate_at)) or self.evaluate_at[0] != 0:
            raise _invalid("evaluate_at", f"increasing steps from 0, got {self.evaluate_at}")
        if any(not 0 < f <= 1 for f in self.fractions):
            raise _invalid("fractions", f"labelled fractions lie in (0, 1], got {self.fractions}")
        return self

    @property
    def steps(self) -> int:
        return self.evaluate_at[-1]


class SslTransfer(_Section):
    """The transfer read-out (synaudio.studies.ssl.transfer): a SynTone dataset through the
    speech front-end, every encoder's representation of seeded subsets of its train and
    held-out clips read out linearly."""

    protocol: Literal["paper", "corrected"] = "corrected"  # whose SynTone dataset (artifacts/syntone/<it>)
    split: Split = Split(test_fraction=0.25, seed=0)
    train_clips: int = Field(default=4000, ge=2)
    test_clips: int = Field(default=2000, ge=1)
    subset_seed: Seed = 0


class SslVaeFamily(_Section):
    """The VAE-family baseline of the probes: the speech benchmark's models (speech.models,
    trained without labels on each downstream version's training clips), their posterior
    means probed like the pretrained encoders."""

    models: list[str] = Field(
        default_factory=lambda: ["vae", "beta_vae", "factor_vae", "beta_tcvae"], min_length=1
    )
    seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])


class SelfSupervised(_Section):
    """Barlow Twins and MBT on SynSpeech (issue 17; SSL.md). `methods` train at `seeds`,
    the ablation and lambda arms at `arm_seeds`; every one shares the encoder, views and
    optimisation (AdamW, linear warm-up then cosine decay per step)."""

    pretraining: SslPretraining = SslPretraining()
    tasks: dict[str, SslTask] = Field(default_factory=_default_tasks, min_length=1)
    fractions: list[float] = Field(default_factory=lambda: [0.01, 0.05, 0.1, 1.0], min_length=1)
    subset_seed: Seed = 0  # draws the labelled clips of each fraction
    channels: list[int] = Field(default_factory=lambda: [16, 32, 64, 128], min_length=1)
    projector: list[int] = Field(default_factory=lambda: [512, 512, 512], min_length=1)
    methods: dict[str, SslObjective] = Field(
        default_factory=lambda: {
            "bt": SslObjective(),
            "mbt_l2": SslObjective(normalisation="l2"),
            "mbt_width": SslObjective(normalisation="width"),
        }
    )
    arms: dict[str, SslObjective] = Field(
        default_factory=lambda: {
            "invariance_only": SslObjective(lambda_d=0.0),
            "redundancy_only": SslObjective(invariance_weight=0.0),
        }
    )
    seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])
    arm_seeds: Seeds = Field(default_factory=lambda: [0])
    batch_size: int = Field(default=256, ge=2)
    epochs: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-6, ge=0)
    warmup_epochs: float = Field(default=0.1, ge=0)
    views: SslViews = SslViews()
    finetune: SslFinetune = SslFinetune()
    transfer: SslTransfer = SslTransfer()
    vae_family: SslVaeFamily = SslVaeFamily()

    @model_validator(mode="after")
    def _consistent(self) -> SelfSupervised:
        shared = sorted(set(self.methods) & set(self.arms))
        if shared:
            raise _invalid("arms", f"{shared} are also under ssl.methods: each name trains once")
        if RANDOM_ENCODER in {*self.methods, *self.arms}:
            raise _invalid("methods", f"{RANDOM_ENCODER!r} names the untrained encoder baseline")
        if any(not 0 < f <= 1 for f in self.fractions):
            raise _invalid("fractions", f"labelled fractions lie in (0, 1], got {self.fractions}")
        taken = sorted({SCRATCH, LOG_MEL, *self.vae_family.models} & {*self.methods, *self.arms})
        if taken:
            raise _invalid(
                "methods",
                f"{taken} name baselines (from-scratch fine-tuning, the time-averaged log-mel, "
                "ssl.vae_family.models)",
            )
        unknown = [m for m in self.finetune.methods if m not in {*self.methods, *self.arms}]
        if unknown:
            raise _invalid("finetune.methods", f"{unknown} are not under ssl.methods or ssl.arms")
        unknown = [t for t in self.finetune.tasks if t not in self.tasks]
        if unknown:
            raise _invalid("finetune.tasks", f"{unknown} are not under ssl.tasks")
        for method in self.finetune.methods:
            pretrained = self.seeds if method in self.methods else self.arm_seeds
            if not set(self.finetune.seeds) <= set(pretrained):
                raise _invalid("finetune.seeds", f"{method} is pretrained at seeds {pretrained} only")
        return self

    def objective(self, name: str) -> SslObjective:
        return {**self.methods, **self.arms}[name]

    @property
    def downstream(self) -> list[str]:
        """The speech benchmark versions the tasks probe, in order."""
        return sorted({task.version for task in self.tasks.values()})


class LayerSettings(_Section):
    """What every layer analysis sets: its models and seeds, the clips and the probes."""

    models: list[str] = Field(
        default_factory=lambda: ["vae", "beta_vae", "factor_vae", "beta_tcvae"], min_length=1
    )
    seeds: Seeds = Field(default_factory=lambda: [0, 1, 2])
    clips: int = Field(default=1000, ge=8)  # held-out clips analysed (a seeded subset)
    seed: int = Field(default=0, ge=0)  # draws the clips and the probes' 75/25 split
    factors: list[str] = Field(min_length=1)  # what the layer probes predict
    # a factor given here is probed (and scored by InfoMEC) in this many equal bins of its grid
    # index: an ordered factor with more levels than a few hundred probe clips can learn
    bins: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bins_are_factors(self) -> LayerSettings:
        unknown = [f for f in self.bins if f not in self.factors]
        if unknown:
            raise _invalid("bins", f"{unknown} are not among factors {self.factors}")
        if any(b < 2 for b in self.bins.values()):
            raise _invalid("bins", "a binned factor needs at least 2 bins")
        return self


class LayerAnalysis(LayerSettings):
    """Layer by layer, the speech benchmark's models on one version's held-out clips (issue
    18): saturation, linear probes and similarity across seeds and objectives."""

    version: str = "small"  # a speech.versions entry: its models, features and held-out clips
    # the self-supervised encoders analysed beside them (ssl.methods, at the same seeds; [] for none)
    ssl_methods: list[str] = Field(default_factory=lambda: ["bt", "mbt_l2", "mbt_width"])
    # the RAVE-style model (speech.scored.rave_style) beside them, at its trained seeds among `seeds`
    rave: bool = True
    clips: int = Field(default=1000, ge=20)
    factors: list[str] = Field(default_factory=lambda: ["speaker_id", "gender", "keyword"], min_length=1)


class _SynToneLayerSettings(LayerSettings):
    """SynTone's factors for the probes: 400 frequencies in 20 bands."""

    factors: list[str] = Field(
        default_factory=lambda: ["waveform_idx", "amplitude_idx", "frequency_idx"], min_length=1
    )
    bins: dict[str, int] = Field(default_factory=lambda: {"frequency_idx": 20})


class SynToneLayerAnalysis(_SynToneLayerSettings):
    """The same analysis of the SynTone models of both protocols on the same clips: those the
    corrected protocol holds out (the paper protocol's reference split trained on ~80 % of
    them), each protocol's models reading them through their own front-end."""

    protocols: list[Literal["paper", "corrected"]] = Field(
        default_factory=lambda: ["paper", "corrected"], min_length=1
    )


class TrainingDynamics(_SynToneLayerSettings):
    """Saturation and layer probes over training: the SynTone models of one protocol trained
    again by its recipe, measured on held-out clips at initialisation and after every epoch."""

    protocol: Literal["paper", "corrected"] = "corrected"
    seeds: Seeds = Field(default_factory=lambda: [0])


class PaperTrainingDynamics(TrainingDynamics):
    """The same for the paper protocol's recipe (frame-max mel, loss summed over the batch,
    its 20 epochs): its own stages, beside the other protocol's."""

    protocol: Literal["paper"] = "paper"
    models: list[str] = Field(default_factory=lambda: ["vae"], min_length=1)


class InputSizeSweep(TrainingDynamics):
    """The preferred input size: the same model trained again by the protocol's recipe on
    front-ends of other sizes - every n_mels x hop_length pair of the grid, the hop setting
    the frames of a clip - with its dense layers sized for the input, and observed like
    the dynamics' trainings."""

    models: list[str] = Field(default_factory=lambda: ["vae"], min_length=1)
    n_mels: list[int] = Field(default_factory=lambda: [32, 64, 128], min_length=1)
    hop_lengths: list[int] = Field(default_factory=lambda: [512, 1024, 2048], min_length=1)


class PaperInputSizeSweep(InputSizeSweep):
    """The same sweep for the paper protocol's recipe (frame-max mel, its 20 epochs): its own
    stages, beside the other protocol's."""

    protocol: Literal["paper"] = "paper"


class SpeechTrainingDynamics(LayerSettings):
    """Saturation and layer probes over training on SynSpeech: models of the speech benchmark
    trained again by its recipe on one version - for `epochs`, not the benchmark's CPU budget,
    so that there is a curve - measured on its held-out clips after every epoch."""

    version: str = "small"  # a speech.versions entry: its clips and the benchmark's split of them
    models: list[str] = Field(default_factory=lambda: ["vae", "beta_vae", "beta_tcvae"], min_length=1)
    seeds: Seeds = Field(default_factory=lambda: [0])
    epochs: int = Field(default=10, ge=1)
    factors: list[str] = Field(default_factory=lambda: ["speaker_id", "gender", "keyword"], min_length=1)


class SpeechInputSizeSweep(SpeechTrainingDynamics):
    """The preferred input size on SynSpeech: a model of the speech benchmark trained again by
    its recipe on front-ends of other sizes (n_mels x hop_length: the hop sets a clip's frames),
    observed like the over-training runs. Its epochs default to the benchmark's for Small, so
    the grid point of speech.features (64 x 438) trains as the benchmark did (its model byte
    for byte where the front-end's bytes are the features stage's)."""

    models: list[str] = Field(default_factory=lambda: ["vae"], min_length=1)
    epochs: int = Field(default=2, ge=1)
    n_mels: list[int] = Field(default_factory=lambda: [32, 64, 128], min_length=1)
    hop_lengths: list[int] = Field(default_factory=lambda: [438, 876, 1752], min_length=1)


class Analyses(_Section):
    """The representation analyses study (issue 18)."""

    layers: LayerAnalysis = LayerAnalysis()
    syntone_layers: SynToneLayerAnalysis = SynToneLayerAnalysis()
    dynamics: TrainingDynamics = TrainingDynamics()
    paper_dynamics: PaperTrainingDynamics = PaperTrainingDynamics()
    input_size: InputSizeSweep = InputSizeSweep()
    paper_input_size: PaperInputSizeSweep = PaperInputSizeSweep()
    speech_dynamics: SpeechTrainingDynamics = SpeechTrainingDynamics()
    speech_input_size: SpeechInputSizeSweep = SpeechInputSizeSweep()


class Params(_Section):
    """The whole params.yaml. A section missing from the file takes its defaults."""

    syntone: SynTone = SynTone()
    features: Features = Features()
    split: Split = Split()
    models: dict[str, AnySpec] = Field(default_factory=_default_models)
    training: Training = Training()
    ladder: Ladder = Ladder()
    evaluation: Evaluation = Evaluation()
    report: Report = Report()
    synspeech: SynSpeech = SynSpeech()
    speech: SpeechBenchmark = SpeechBenchmark()
    rave: RaveBenchmark = RaveBenchmark()
    acids_rave: AcidsRave = AcidsRave()
    ssl: SelfSupervised = SelfSupervised()
    analyses: Analyses = Analyses()
    tracking: Tracking = Tracking()

    @model_validator(mode="after")
    def _trainable(self) -> Params:
        trained = (("training.models", self.training.models), ("speech.models", self.speech.models))
        for field, names in trained:
            unknown = [name for name in names if name not in self.models]
            if unknown:
                raise _invalid(field, f"{unknown} have no block under models: ({sorted(self.models)})")
        self._ladder_on_trained_models()
        unknown = [v for v in self.speech.versions if v not in self.synspeech.versions]
        if unknown:
            raise _invalid(
                "speech.versions",
                f"{unknown} are not under synspeech.versions ({sorted(self.synspeech.versions)})",
            )
        rave = self.speech.scored.get(RAVE)
        missing = [v for v in rave.versions if v not in self.rave.epochs] if rave else []
        if missing:
            raise _invalid("rave.epochs", f"no epochs for speech.scored.{RAVE}.versions {missing}")
        clip = self.speech_clip_samples
        if self.rave.crop_samples > clip or clip % self.rave.bands:
            raise _invalid(
                "rave.crop_samples",
                f"the {clip}-sample clips must be at least crop_samples ({self.rave.crop_samples}) long "
                f"and a multiple of rave.bands ({self.rave.bands})",
            )
        self._speech_input_fits()
        self._syntone_input_fits()
        self._ssl_speakers_unseen()
        self._layers_on_trained_models()
        self._syntone_layers_on_trained_models()
        for version in self.speech.versions:  # a batch larger than the split trains on nothing
            clips = self.synspeech.versions[version].n_clips
            speech_train = clips - round(clips * self.speech.split.test_fraction)
            if self.speech.batch_size > speech_train:
                raise _invalid(
                    "speech.batch_size",
                    f"batch of {self.speech.batch_size} exceeds the {speech_train} training clips of "
                    f"synspeech.versions.{version}",
                )
        train_clips = self.syntone.n_clips - round(self.syntone.n_clips * self.split.test_fraction)
        for name in self.training.models:
            batch = self.batch_size(name)
            if batch > train_clips:
                key = f"models.{name}.batch_size" if self.models[name].batch_size else "training.batch_size"
                raise _invalid(key, f"batch of {batch} exceeds the {train_clips} training clips")
        return self

    def _ladder_on_trained_models(self) -> None:
        """The ladder's end rungs are the paper and corrected checkpoints: they must be trained."""
        unknown = [m for m in self.ladder.models if m not in self.training.models]
        if unknown:
            raise _invalid(
                "ladder.models", f"{unknown} are not under training.models ({self.training.models})"
            )
        both = set(self.training.paper_seeds) & set(self.training.corrected_seeds)
        missing = [s for s in self.ladder.seeds if s not in both]
        if missing:
            raise _invalid(
                "ladder.seeds",
                f"{missing} are not both in training.paper_seeds and training.corrected_seeds",
            )

    def _layers_on_trained_models(self) -> None:
        """The layer analysis reads models the speech benchmark trains, on clips it holds out; the
        SynSpeech over-training measures on the clips its version holds out."""
        layers = self.analyses.layers
        checks = [("models", layers.models, self.speech.models, "speech.models"),
                  ("seeds", layers.seeds, self.speech.seeds, "speech.seeds"),
                  ("ssl_methods", layers.ssl_methods, list(self.ssl.methods), "ssl.methods")]  # fmt: skip
        if layers.ssl_methods:
            checks.append(("seeds", layers.seeds, self.ssl.seeds, "ssl.seeds"))
        for field, names, trained, key in checks:
            unknown = [name for name in names if name not in trained]
            if unknown:
                raise _invalid(f"analyses.layers.{field}", f"{unknown} are not under {key}")
        for key in ("layers", "speech_dynamics", "speech_input_size"):
            settings = getattr(self.analyses, key)
            if settings.version not in self.speech.versions:
                raise _invalid(
                    f"analyses.{key}.version", f"{settings.version!r} is not under speech.versions"
                )
            clips = self.synspeech.versions[settings.version].n_clips
            held_out = round(clips * self.speech.split.test_fraction)
            if settings.clips > held_out:
                raise _invalid(
                    f"analyses.{key}.clips", f"{settings.clips} exceeds the {held_out} held-out clips"
                )
        rave = self.speech.scored.get(RAVE)
        trained = rave and layers.version in rave.versions and set(layers.seeds) & set(rave.seeds)
        if layers.rave and not trained:
            raise _invalid(
                "analyses.layers.rave",
                f"no RAVE-style model of {layers.version} at seeds {layers.seeds} is trained "
                f"(speech.scored.{RAVE}: its versions and seeds); set it false or train one",
            )

    def _syntone_layers_on_trained_models(self) -> None:
        """The SynTone layer analysis reads models both protocols train (its clips are checked
        by the stages: a sweep over the SynTone grid must not fail on an analysis it does not run)."""
        layers, training = self.analyses.syntone_layers, self.training
        seeds = {"paper": training.paper_seeds, "corrected": training.corrected_seeds}
        checks = [("models", layers.models, training.models)]
        checks += [("seeds", layers.seeds, seeds[p]) for p in layers.protocols]
        for field, names, trained in checks:
            unknown = [name for name in names if name not in trained]
            if unknown:
                raise _invalid(f"analyses.syntone_layers.{field}", f"{unknown} are not trained ({trained})")
        observed = ("dynamics", "paper_dynamics", "input_size", "paper_input_size", "speech_dynamics",
                    "speech_input_size")  # fmt: skip
        for key in observed:
            unknown = [name for name in getattr(self.analyses, key).models if name not in self.models]
            if unknown:
                raise _invalid(
                    f"analyses.{key}.models", f"{unknown} have no block under models: ({sorted(self.models)})"
                )
        self._input_sizes_fit()

    def syntone_input(self, n_mels: int, hop_length: int) -> tuple[int, int]:
        """Mels x frames a SynTone front-end with these settings makes of one clip."""
        return n_mels, self.syntone.clip_samples // hop_length + 1

    def _input_sizes_fit(self) -> None:
        """The encoders halve both sides of their input once per conv block (the frames a hop
        gives depend on the clip's duration, which a sweep may vary: the stage checks them)."""
        sweeps = (("input_size", SYNTONE), ("paper_input_size", SYNTONE), ("speech_input_size", SPEECH))
        for key, preset in sweeps:
            wrong = [m for m in getattr(self.analyses, key).n_mels if m % preset.downsampling]
            if wrong:
                raise _invalid(
                    f"analyses.{key}.n_mels", f"{wrong} are not multiples of {preset.downsampling}"
                )

    def _ssl_speakers_unseen(self) -> None:
        """Pretraining's version exists, its clips are long enough for the views' crop, no
        downstream version's speaker is among its speakers (they are a prefix of it), and the
        VAE-family baseline names models the speech benchmark trains."""
        ssl, versions = self.ssl, self.synspeech.versions
        pretraining = ssl.pretraining
        unknown = [v for v in (pretraining.version, *ssl.downstream) if v not in versions]
        if unknown:
            raise _invalid("ssl", f"{unknown} are not under synspeech.versions ({sorted(versions)})")
        unscored = [v for v in ssl.downstream if v not in self.speech.versions]
        if unscored:
            raise _invalid("ssl.tasks", f"versions {unscored} are not under speech.versions (their features)")
        seen = max(versions[v].speakers for v in ssl.downstream)
        if pretraining.first_speaker < seen:
            raise _invalid(
                "ssl.pretraining.first_speaker",
                f"{pretraining.first_speaker} would pretrain on downstream speakers (the first {seen})",
            )
        if pretraining.first_speaker >= versions[pretraining.version].speakers:
            raise _invalid(
                "ssl.pretraining.first_speaker", f"{pretraining.version} has no speaker from it on"
            )
        version = versions[pretraining.version]
        clips = (version.speakers - pretraining.first_speaker) * version.texts * len(version.styles)
        train = clips - round(clips * pretraining.held_out)
        if train < ssl.batch_size or train == clips:
            raise _invalid(
                "ssl.batch_size",
                f"{ssl.batch_size} does not fit the {train} pretraining clips left after holding out "
                f"{clips - train} of {clips} (ssl.pretraining.held_out must keep at least one of each)",
            )
        family = ssl.vae_family
        unknown = [m for m in family.models if m not in self.speech.models]
        if unknown:
            raise _invalid("ssl.vae_family.models", f"{unknown} are not under speech.models (not trained)")
        unknown = [s for s in family.seeds if s not in self.speech.seeds]
        if unknown:
            raise _invalid("ssl.vae_family.seeds", f"{unknown} are not under speech.seeds (not trained)")
        if ssl.views.crop_frames > self.speech_input[1]:
            raise _invalid(
                "ssl.views.crop_frames", f"longer than the {self.speech_input[1]} frames of a clip"
            )

    def _syntone_input_fits(self) -> None:
        """The SynTone backbone is the reference's: fully connected layers sized for 128 x 32."""
        frames = self.syntone_input(self.features.n_mels, self.features.hop_length)[1]
        if (self.features.n_mels, frames) != SYNTONE_INPUT:
            raise _invalid(
                "features.n_mels" if self.features.n_mels != SYNTONE_INPUT[0] else "syntone.duration",
                f"the front-end gives {self.features.n_mels} mels x {frames} frames (frames = "
                "syntone.duration * sample_rate // features.hop_length + 1); the SynTone backbone takes "
                f"{SYNTONE_INPUT[0]} x {SYNTONE_INPUT[1]}",
            )

    @property
    def speech_input(self) -> tuple[int, int]:
        """Mels x frames the speech front-end makes of one SynSpeech clip."""
        return self.speech_size(self.speech.features.n_mels, self.speech.features.hop_length)

    @property
    def speech_clip_samples(self) -> int:
        """Samples of one SynSpeech clip."""
        return round(self.synspeech.clip_seconds * SPEECH_SAMPLE_RATE)

    def speech_size(self, n_mels: int, hop_length: int) -> tuple[int, int]:
        """Mels x frames a speech front-end with these settings makes of one SynSpeech clip."""
        return n_mels, self.speech_clip_samples // hop_length + 1

    def _speech_input_fits(self) -> None:
        """The speech backbone halves both input sides four times: they must divide by 16."""
        features = self.speech.features
        frames = self.speech_input[1]
        for key, size in (("n_mels", features.n_mels), ("hop_length", frames)):
            if size % SPEECH.downsampling:
                raise _invalid(
                    f"speech.features.{key}",
                    f"{features.n_mels} mels x {frames} frames "
                    "(frames = synspeech.clip_seconds * 16000 // hop_length + 1): "
                    f"both must be multiples of {SPEECH.downsampling}",
                )

    def batch_size(self, model: str) -> int:
        return self.models[model].batch_size or self.training.batch_size


def _key(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    if len(loc) > 2 and loc[0] == "models" and loc[2] in SPECS:
        del loc[2]  # the discriminated union's tag, not a key the user wrote
    field = (error.get("ctx") or {}).get("field")
    if field:
        loc.append(field)
    return ".".join(loc) or "(top level)"


def _reason(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling against params.yaml's documented keys)"
    return (
        f"{error['msg']} (got {error['input']!r})" if error["type"] != "invalid_combination" else error["msg"]
    )


def validate(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed mapping; raise UserError listing every problem."""
    if raw is None or raw == {}:
        raise UserError(f"{source}: empty; a parameters file must name its sections (see params.yaml)")
    if not isinstance(raw, dict):
        raise UserError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {_key(e)}: {_reason(e)}" for e in exc.errors()]
        raise UserError("\n".join(lines)) from None


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (run from the repository root or pass --params)") from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, binary content
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"{path}: cannot read it as a parameters file ({reason})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; raise UserError with one line per problem."""
    return validate(load_yaml(path), str(path))


def _merge(tree: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(tree)
    for key, value in patch.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if nested else value
    return merged


def with_overrides(params: Params, overrides: Any, source: str) -> Params:
    """`params` with a nested mapping of overrides applied, validated as a whole."""
    if not isinstance(overrides, dict):
        raise UserError(f"{source}: must be a mapping of sections to override")
    return validate(_merge(params.model_dump(), overrides), source)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b.c": value}, the form MLflow params and `dvc exp run -S` use."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
