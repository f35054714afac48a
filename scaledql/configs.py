"""Configuration: frozen dataclasses and the named presets `smoke`, `cpu`, `gpu`, `paper`.

The dataclass defaults are the paper's setting (or, where it does not say, our documented
assumption); each preset states only where it departs from them.

A `Config` holds everything that defines a run. Presets are functions, one per scale, each saying
in its docstring what it is for, how long it takes and on what hardware. Settings are changed with
`changed(config, {"network.width": 0.5, "games": ("Pong", "Breakout")})` inside the package, or,
from the command line and a chapter's `settings`, with `override(config, ["network.width=0.5",
"games=Pong,Breakout"])`.

This module imports no jax: configs are cheap to build, hash and print.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import inspect
import json
import sys
import typing
from collections.abc import Callable, Iterable, Mapping

from scaledql import envs

ENCODERS = (
    "resnet4", "resnet6", "resnet10", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "impala", "nature", "minatar_dqn", "vit",
)  # fmt: skip
VIT_BASE_WIDTH = 768  # ViT-Base's token width, scaled by network.width
VIT_HEAD_SIZE = 64  # a ViT's attention heads: one per 64 channels of its tokens
READOUTS = ("spatial", "pool", "flatten")
LOSSES = ("c51", "mse", "bc", "hl_gauss", "dt", "mae")
DISTRIBUTIONAL_LOSSES = ("c51", "hl_gauss")  # a head of num_atoms logits per action
SOURCES = ("collected", "dqn-replay")
BEHAVIOURS = ("random", "dqn")
DTYPES = ("float32", "bfloat16")
SAMPLERS = ("host", "memory")
ENCODER_TRAINING = ("train", "frozen")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """The Q-network: encoder, readout, shared MLP, feature normalisation, per-game heads."""

    encoder: str = "resnet101"
    """resnet4, 6, 10 (one basic block in each of 1, 2, 4 stages), resnet18 ... resnet152
    (GroupNorm), impala, nature (the DQN CNN), minatar_dqn (one
    3x3 conv of 16, the MinAtar DQN's) or vit (ViT-Base's 12 blocks, its tokens 768 x width
    wide, the encoder of the paper's MAE baseline)"""
    width: float = 1.0
    """channel multiplier of the encoder (1.0: the standard widths)"""
    readout: str = "spatial"
    """spatial: learned spatial embedding; pool: global mean; flatten"""
    spatial_features: int = 8
    """F of the learned (H, W, C, F) spatial embedding kernel"""
    norm_groups: int = 4
    """GroupNorm groups in the ResNets (assumption: PTR's encoder)"""
    mlp_sizes: tuple[int, ...] = (512,)
    """widths of the shared MLP between the readout and the heads (assumption: one 512 layer)"""
    feature_norm: bool = True
    """divide the features fed to the heads by their L2 norm"""
    dtype: str = "float32"
    """computation dtype, float32 or bfloat16; parameters stay float32"""


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The objective: TD loss kind, its support, the CQL weight and the discount."""

    kind: str = "c51"
    """c51: categorical TD; mse: scalar TD; bc: behaviour cloning; hl_gauss: categorical TD to
    a Gaussian histogram of the scalar target (Farebrother et al., 2024; later work); dt: the
    multi-game Decision Transformer of the `dt` settings (Lee et al., 2022), not a Q-network;
    mae: masked-autoencoder pre-training of a vit encoder (He et al., 2022), no policy"""
    num_atoms: int = 51
    """atoms of the C51 return distribution"""
    v_min: float = -10.0
    """lowest atom of the C51 support"""
    v_max: float = 10.0
    """highest atom of the C51 support"""
    cql_alpha: float = 0.05
    """weight of the CQL regulariser (0: plain offline Q-learning)"""
    discount: float = 0.99
    """discount factor gamma"""
    n_step: int = 1
    """steps of the TD return"""
    hl_gauss_sigma: float = 0.75
    """hl_gauss: the Gaussian's standard deviation in bin widths (Farebrother et al.'s 0.75)"""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which offline data a run trains on, and for collected data, how it is made."""

    source: str = "collected"
    """collected: made here by `scaledql collect` (regenerated when missing); dqn-replay: the
    real dataset, downloaded under `data.root`"""
    subset: str = "initial:20"
    """initial:X (first X % of a run), all, uniform:X (X % of every checkpoint)"""
    runs: tuple[int, ...] = (1,)
    """which runs of each game (DQN Replay has 1 to 5)"""
    behaviour: str = "dqn"
    """random | dqn: the policy that collects `collected` data"""
    steps_per_game: int = 50_000_000
    """agent steps of a full collected run (DQN Replay: 50M)"""
    capacity: int = 1_000_000
    """rows a checkpoint holds (DQN Replay: 1M)"""
    root: str = ""
    """the dataset directory, laid out as ROOT/{Game}/{run}/replay_logs; empty: under the cache"""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimiser and the training loop."""

    batch_size: int = 512
    """transitions a gradient step, over all games and devices"""
    learning_rate: float = 2e-4
    """Adam's learning rate"""
    adam_eps: float = 3.125e-4
    """Adam's epsilon (assumption: single-task CQL on Atari)"""
    grad_clip_norm: float | None = None
    """clip gradients to this global norm; None: no clipping"""
    target_update_period: int = 2000
    """gradient steps between hard target-network copies"""
    num_steps: int = 1_000_000
    """gradient steps of the run (assumption: the paper does not say)"""
    steps_per_call: int = 1
    """gradient steps inside one jitted call"""
    passes: float = 0.0
    """the budget as passes over the training data (gradient samples / transitions of the
    subset): above 0 it sets the run's gradient steps, rounded up to a multiple of
    steps_per_call; 0: train.num_steps steps"""
    sampler: str = "host"
    """host: numpy draws each batch from the memory-mapped runs, a thread ahead of training;
    memory: the subset is held bit-packed in memory and every batch is drawn inside the jitted
    loop (MinAtar grids on one device; a Decision Transformer's sequences always come from
    the host)"""
    micro_batches: int = 1
    """split each device's share of a batch into this many micro-batches and sum their
    gradients (the same step, a smaller working set: faster on a CPU at batch 256)"""
    checkpoint_every: int = 50_000
    """gradient steps between checkpoints"""
    log_every: int = 1_000
    """gradient steps between rows of the learning curve"""


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Online evaluation of the greedy policy."""

    episodes: int = 10
    """evaluation episodes a game"""
    epsilon: float = 0.001
    """probability of a random action while evaluating"""
    max_frames: int = 108_000
    """frame cap of an episode (ALE: 30 minutes of play; the twin has no frame skip, so there a
    frame is a step)"""
    sticky_action_prob: float = 0.25
    """probability that the emulator repeats the previous action"""
    at_fractions: tuple[float, ...] = ()
    """fractions of the training budget after which the policy is also evaluated, with the
    same episodes, into the record (the end is always evaluated), e.g. 0.125,0.25,0.5"""


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Starting from a pre-trained multi-game run (the paper's Sec. 5.2)."""

    pretrained: str = ""
    """config hash of a recorded run whose final encoder and spatial embedding start this one
    (the MLP and heads start fresh; a Decision Transformer takes all but its action tokens, a
    vit Q-network the encoder of an MAE run); empty: no pre-training (the paper's "scratch")"""
    encoder: str = "train"
    """train: fine-tuned with the rest; frozen: kept as pre-trained, no updates"""


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """Online learning (the paper's online fine-tuning to new game modes, Fig. 8) in ALE or on
    the twin, and the game variant every run is evaluated in.

    The paper does not give these settings; the defaults are Dopamine's DQN settings, except the
    replay, which is also the checkpoint interval (a checkpoint each time the buffer has been
    filled once), so 250k gives a 3M-frame run 3 checkpoints.
    """

    agent_steps: int = 0
    """0: an offline run; else agent steps learned online, and no offline data is used (ALE:
    4 frames a step, so 3M frames are 750000; the twin: a frame a step)"""
    mode: int | None = None
    """game mode (ALE's, or a twin variant of `envs.minatar.VARIANTS`) played online and in
    evaluation; None: the default the data was logged in"""
    difficulty: int | None = None
    """ALE difficulty, as `mode` (the twin has none)"""
    warmup: int = 20_000
    """agent steps of epsilon 1 before epsilon starts to fall"""
    epsilon_decay: int = 250_000
    """agent steps over which epsilon falls linearly to `epsilon_final`"""
    epsilon_final: float = 0.01
    """exploration rate after the decay"""
    update_period: int = 4
    """agent steps between gradient steps (on a uniform batch of the replay)"""
    replay_capacity: int = 250_000
    """transitions the replay buffer holds; also the checkpoint interval"""


@dataclasses.dataclass(frozen=True)
class DecisionTransformerConfig:
    """The multi-game Decision Transformer (Lee et al., 2022) that `loss.kind=dt` trains: a
    causal transformer over (observation patches, return-to-go, action, reward) tokens, trained
    by supervised learning. The defaults are Lee et al.'s DT-200M on 84x84 frames; the settings
    define no run of another loss kind (`config_hash` leaves them out there)."""

    context: int = 4
    """timesteps a sequence holds (Lee et al.: 4)"""
    patch_size: int = 14
    """side of the square patches a frame is cut into, one token each (84 / 14: 36 patches)"""
    d_model: int = 1280
    """token width (Lee et al.: 768 for DT-40M, 1280 for DT-200M)"""
    num_layers: int = 10
    """transformer blocks (Lee et al.: 6 for DT-40M, 10 for DT-200M)"""
    num_heads: int = 20
    """attention heads (Lee et al.: d_model / 64)"""
    dropout: float = 0.1
    """dropout rate after attention and MLP while training (Lee et al.: 0.1)"""
    return_min: int = -20
    """lowest return-to-go token, in clipped rewards (Lee et al.: -20)"""
    return_max: int = 100
    """highest return-to-go token; returns beyond are clipped to it (Lee et al.: 100)"""
    expert_weight: float = 10.0
    """kappa of expert-return conditioning: returns are sampled from P(R) exp(kappa (R - min) /
    (max - min)) (Lee et al., Eq. 3; assumption: their released colab takes the best of 128
    samples instead)"""


@dataclasses.dataclass(frozen=True)
class MaskedAutoencoderConfig:
    """Masked-autoencoder pre-training (He et al., 2022) that `loss.kind=mae` runs: the
    network's vit encoder sees a random quarter of each state's patches, and a light decoder
    reconstructs the hidden ones. The paper's MAE baseline then trains the Q-network's heads on
    the frozen encoder. The defaults are He et al.'s; the settings define no other run."""

    mask_ratio: float = 0.75
    """fraction of each state's patches hidden from the encoder (He et al.: 0.75)"""
    decoder_width: int = 512
    """token width of the decoder (He et al.: 512)"""
    decoder_layers: int = 8
    """transformer blocks of the decoder (He et al.: 8)"""
    decoder_heads: int = 16
    """attention heads of the decoder (He et al.: 16)"""


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run. `name` is the preset it came from."""

    name: str
    games: tuple[str, ...]
    network: NetworkConfig = NetworkConfig()
    loss: LossConfig = LossConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    online: OnlineConfig = OnlineConfig()
    dt: DecisionTransformerConfig = DecisionTransformerConfig()
    mae: MaskedAutoencoderConfig = MaskedAutoencoderConfig()
    seed: int = 0
    """seed of the initialisation, the batches and the evaluation"""

    def __post_init__(self):
        validate(self)


SETTING_DOCS_EXTRA = {"games": "the games to train on, comma-separated (one head each)"}


def setting_docs() -> dict[str, str]:
    """{setting name: its one-line description}, read from the docstring under each field of
    the dataclasses above (as CleanRL's `Args` documents its fields). Python keeps no field
    docstrings at runtime, so this parses the module's own source."""
    tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    docs = dict(SETTING_DOCS_EXTRA)
    sections = {
        f.type if isinstance(f.type, str) else f.type.__name__: f.name
        for f in dataclasses.fields(Config)
    }
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or (
            node.name not in sections and node.name != "Config"
        ):
            continue
        prefix = f"{sections[node.name]}." if node.name in sections else ""
        for field, doc in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                docs[prefix + field.target.id] = " ".join(doc.value.value.split())
    return docs


def _one_of(value, valid: Iterable, setting: str):
    if value not in valid:
        raise ValueError(f"{setting}={value!r} is not valid; choose one of: {', '.join(valid)}")


def validate(config: Config) -> None:
    """Raises a ValueError naming the bad setting and its valid values."""
    if not config.games:
        raise ValueError("games is empty; name at least one game, e.g. games=Pong")
    for game in config.games:
        envs.check_game(game)
    if envs.check_family(config.games) == "minatar":
        _validate_twin(config)
    if len(set(config.games)) != len(config.games):
        raise ValueError(f"games lists a game twice: {config.games}")
    _one_of(config.network.encoder, ENCODERS, "network.encoder")
    _one_of(config.network.readout, READOUTS, "network.readout")
    _one_of(config.network.dtype, DTYPES, "network.dtype")
    _one_of(config.loss.kind, LOSSES, "loss.kind")
    _one_of(config.data.source, SOURCES, "data.source")
    _one_of(config.data.behaviour, BEHAVIOURS, "data.behaviour")
    _one_of(config.finetune.encoder, ENCODER_TRAINING, "finetune.encoder")
    _one_of(config.train.sampler, SAMPLERS, "train.sampler")
    _validate_budget(config)
    if config.finetune.encoder == "frozen" and not config.finetune.pretrained:
        raise ValueError(
            "finetune.encoder=frozen needs finetune.pretrained=HASH (a recorded run's config hash, "
            "see `scaledql records`); a frozen random encoder is not a variant of the paper"
        )
    online = config.online
    if online.agent_steps < 0 or online.warmup < 0 or online.epsilon_decay < 0:
        raise ValueError("online.agent_steps, online.warmup and online.epsilon_decay must be >= 0")
    if online.update_period < 1 or online.replay_capacity < 4:
        raise ValueError("online.update_period must be >= 1 and online.replay_capacity >= 4")
    if not 0 <= online.epsilon_final <= 1:
        raise ValueError(f"online.epsilon_final must lie in [0, 1], got {online.epsilon_final}")
    if online.agent_steps and len(config.games) != 1:
        raise ValueError(
            f"an online run plays one game; games={','.join(config.games)} names "
            f"{len(config.games)}: set games=GAME"
        )
    if config.network.width <= 0:
        raise ValueError(f"network.width must be positive, got {config.network.width}")
    if config.loss.kind in DISTRIBUTIONAL_LOSSES and config.loss.num_atoms < 2:
        raise ValueError(f"loss.num_atoms must be at least 2 for {config.loss.kind}")
    if config.loss.hl_gauss_sigma <= 0:
        raise ValueError(f"loss.hl_gauss_sigma must be positive, got {config.loss.hl_gauss_sigma}")
    if config.loss.v_min >= config.loss.v_max:
        raise ValueError("loss.v_min must be below loss.v_max")
    if config.train.batch_size < 1 or config.train.num_steps < 1:
        raise ValueError("train.batch_size and train.num_steps must be positive")
    _validate_micro_batches(config)
    if config.loss.kind == "dt":
        _validate_transformer(config)
    if config.network.encoder == "vit" and (VIT_BASE_WIDTH * config.network.width) % VIT_HEAD_SIZE:
        raise ValueError(
            f"network.width={config.network.width:g} gives the vit encoder tokens "
            f"{VIT_BASE_WIDTH * config.network.width:g} wide; choose a width that makes "
            f"{VIT_BASE_WIDTH} x width a multiple of {VIT_HEAD_SIZE} (1/12, 1/6, 1/4, 1/2, 1)"
        )
    if config.loss.kind == "mae":
        _validate_autoencoder(config)


def _validate_budget(config: Config) -> None:
    """The budget in passes and the evaluations along it."""
    if config.train.passes < 0:
        raise ValueError(
            f"train.passes must be >= 0 (0: train.num_steps), got {config.train.passes}"
        )
    fractions = config.eval.at_fractions
    if any(not 0 < f < 1 for f in fractions) or list(fractions) != sorted(set(fractions)):
        raise ValueError(
            f"eval.at_fractions={','.join(map(str, fractions))}: give increasing fractions of the "
            "budget strictly between 0 and 1, e.g. 0.125,0.25,0.5 (the end is always evaluated)"
        )
    if config.train.sampler == "memory" and envs.check_family(config.games) != "minatar":
        raise ValueError(
            "train.sampler=memory holds MinAtar grids bit-packed in memory; ALE frames are "
            "sampled from their memory-mapped runs: set train.sampler=host"
        )


def _validate_micro_batches(config: Config) -> None:
    """Micro-batches of a Q-network objective: dt and mae draw their dropout and masks for the
    whole batch, so splitting it would change the step, not only its working set."""
    micro = config.train.micro_batches
    if micro < 1:
        raise ValueError(f"train.micro_batches must be >= 1, got {micro}")
    if micro > 1 and config.loss.kind in ("dt", "mae"):
        raise ValueError(
            f"train.micro_batches={micro} applies to the Q-network objectives only, not "
            f"loss.kind={config.loss.kind}; set train.micro_batches=1"
        )
    if config.train.batch_size % micro:
        raise ValueError(
            f"train.micro_batches={micro} does not split train.batch_size="
            f"{config.train.batch_size}; choose a divisor of it"
        )


def _validate_autoencoder(config: Config) -> None:
    """An MAE pre-training run: a vit encoder, trained offline from scratch."""
    if config.network.encoder != "vit":
        raise ValueError(
            f"loss.kind=mae pre-trains a vit encoder, not network.encoder="
            f"{config.network.encoder}; set network.encoder=vit"
        )
    if config.online.agent_steps or config.finetune.pretrained:
        raise ValueError(
            "loss.kind=mae pre-trains offline from scratch: set online.agent_steps=0 and no "
            "finetune.pretrained"
        )
    if not 0 < config.mae.mask_ratio < 1:
        raise ValueError(f"mae.mask_ratio must lie in (0, 1), got {config.mae.mask_ratio}")
    if config.mae.decoder_width % config.mae.decoder_heads:
        raise ValueError("mae.decoder_width must split into mae.decoder_heads heads")


def _validate_transformer(config: Config) -> None:
    """A Decision Transformer the frames of `config.games` can feed, trained offline from
    scratch or from a pre-trained one."""
    dt = config.dt
    if config.online.agent_steps:
        raise ValueError(
            "loss.kind=dt trains a Decision Transformer offline; it has no online learning: "
            "set online.agent_steps=0"
        )
    if config.finetune.encoder == "frozen":
        raise ValueError(
            "loss.kind=dt fine-tunes the whole pre-trained Decision Transformer, as Lee et al. "
            "do: set finetune.encoder=train"
        )
    if dt.context < 1 or dt.num_layers < 1 or dt.d_model < 1 or dt.num_heads < 1:
        raise ValueError("dt.context, dt.num_layers, dt.d_model and dt.num_heads must be >= 1")
    if dt.d_model % dt.num_heads:
        raise ValueError(
            f"dt.d_model={dt.d_model} does not split into dt.num_heads={dt.num_heads} heads; "
            "choose a head count that divides it"
        )
    height, width, _ = envs.state_shape(config.games)
    if dt.patch_size < 1 or height % dt.patch_size or width % dt.patch_size:
        raise ValueError(
            f"dt.patch_size={dt.patch_size} does not tile the {height}x{width} frames of "
            f"{', '.join(config.games)}; choose a divisor of {height}"
        )
    if dt.return_max <= dt.return_min:
        raise ValueError("dt.return_max must be above dt.return_min")


def check_pretrained(config: Config, source: Config) -> None:
    """Raises a ValueError when `config` cannot start from the run `source` describes (the one
    its `finetune.pretrained` names): a Decision Transformer starts from a Decision
    Transformer, a Q-network from a Q-network or from a masked autoencoder's vit encoder."""
    if config.loss.kind == "dt" and source.loss.kind != "dt":
        raise ValueError(
            f"finetune.pretrained={config.finetune.pretrained} is a loss.kind={source.loss.kind} "
            "run; a Decision Transformer (loss.kind=dt) fine-tunes from a recorded dt run"
        )
    if config.loss.kind != "dt" and source.loss.kind == "dt":
        raise ValueError(
            f"finetune.pretrained={config.finetune.pretrained} is a Decision Transformer; a "
            f"loss.kind={config.loss.kind} Q-network starts from a Q-network or an MAE run"
        )
    if source.loss.kind == "mae" and config.network.encoder != "vit":
        raise ValueError(
            f"finetune.pretrained={config.finetune.pretrained} pre-trained a vit encoder by MAE; "
            f"set network.encoder=vit and network.width={source.network.width:g} to start from it"
        )


def _validate_twin(config: Config) -> None:
    """What a MinAtar twin run cannot do (yet), each with the reason."""
    if config.data.source == "dqn-replay":
        raise ValueError("the DQN Replay Dataset holds ALE games only; use data.source=collected")
    if config.network.encoder == "nature":
        raise ValueError(
            "network.encoder=nature needs 84x84 frames (its first layer is 8x8 with stride 4); "
            "on the twin's 10x10 grids use a resnet, impala or minatar_dqn"
        )
    if config.online.difficulty is not None:
        raise ValueError(
            f"online.difficulty={config.online.difficulty}: the twin's games have modes "
            "(online.mode) but no difficulties; set online.difficulty=none"
        )
    if config.online.mode:
        for game in config.games:
            envs.minatar.variant(game, config.online.mode)  # names the valid modes
    if config.eval.sticky_action_prob != envs.minatar.STICKY_ACTION_PROB:
        raise ValueError(
            f"the twin's data is played with sticky actions {envs.minatar.STICKY_ACTION_PROB} (the "
            f"original MinAtar's), not eval.sticky_action_prob={config.eval.sticky_action_prob}; "
            f"set eval.sticky_action_prob={envs.minatar.STICKY_ACTION_PROB} (the twin presets do)"
        )


# --- presets ---------------------------------------------------------------------------------


def smoke() -> Config:
    """CI and tests: every code path end to end in about a minute on 2 CPU cores.

    Two games, a ResNet-18 at 1/16 width (about 0.1M parameters), batch 8, 20 gradient steps.
    The numbers it produces are meaningless; chapters executed with it say so.
    """
    return Config(
        name="smoke",
        games=("Pong", "Breakout"),
        network=NetworkConfig(encoder="resnet18", width=1 / 16, mlp_sizes=(32,)),
        data=DataConfig(subset="all", behaviour="random", steps_per_game=2_000, capacity=500),
        train=TrainConfig(
            batch_size=8, target_update_period=10, num_steps=20, checkpoint_every=10, log_every=5
        ),
        eval=EvalConfig(episodes=1, max_frames=2_000),
        dt=DecisionTransformerConfig(d_model=32, num_layers=1, num_heads=2),
        mae=MaskedAutoencoderConfig(decoder_width=32, decoder_layers=1, decoder_heads=2),
    )


def cpu() -> Config:
    """The book's default: a reduced-scale run on a laptop or a 2-core CPU machine.

    The five ablation games of Table 2, a ResNet-18 at 1/4 width (2.2M parameters), batch 64,
    on data collected here by an online DQN (100k agent steps a game, about 15 min a game),
    30k gradient steps with a target copy every 1000. Measured on 2 CPU cores: about 5
    gradient steps/s (10.3 GFLOP a step), so about 1.6 hours a run, plus 7.4 minutes of
    evaluation (10 episodes a game).
    """
    return Config(
        name="cpu",
        games=envs.ABLATION_GAMES,
        network=NetworkConfig(encoder="resnet18", width=0.25, mlp_sizes=(256,)),
        data=DataConfig(subset="all", behaviour="dqn", steps_per_game=100_000, capacity=10_000),
        train=TrainConfig(
            batch_size=64,
            target_update_period=1000,
            num_steps=30_000,
            checkpoint_every=2_500,
            log_every=500,
        ),
        dt=DecisionTransformerConfig(d_model=128, num_layers=2, num_heads=2),
        mae=TWIN_MAE,
    )


def gpu() -> Config:
    """The strongest runs this project makes itself: one GPU (H100/H200 class), about an hour.

    The five ablation games, a full-width ResNet-34 (25.8M parameters) in bfloat16, batch 256,
    200k gradient steps on data collected here (1.03 TFLOP a step). Its update runs at 108
    steps/s on one H200: 31 minutes of gradient steps, data and evaluation on top. With
    `loss.kind=dt` it trains a Decision Transformer of Lee et al.'s DT-40M size (d_model 768,
    6 layers, 12 heads) instead.
    """
    return Config(
        name="gpu",
        games=envs.ABLATION_GAMES,
        network=NetworkConfig(encoder="resnet34", dtype="bfloat16"),
        data=DataConfig(steps_per_game=5_000_000, capacity=100_000),
        train=TrainConfig(batch_size=256, num_steps=200_000, checkpoint_every=20_000),
        dt=DecisionTransformerConfig(d_model=768, num_layers=6, num_heads=12),
    )


def paper() -> Config:
    """The paper's configuration, for TPU/GPU pods with the real DQN Replay data.

    40 games, ResNet-101 with GroupNorm, learned spatial embedding and feature normalisation
    (69.9M parameters; the paper says about 80M), C51 with 51 atoms, CQL alpha 0.05, Adam lr
    2e-4, batch 512, target copy every 2000 steps, the initial 20 % of each game's run. The
    paper trained on Cloud TPU v3 with 64-128 cores; its number of gradient steps is not
    reported and 1M is an assumption. Each step costs 5.2 TFLOP (XLA's count), so 1M steps are
    5.2e18 FLOP: about 15 hours at 100 TFLOP/s achieved on one GPU, proportionally less on a pod.
    Never run on the machines this book is built on. With `loss.kind=dt` it trains Lee et
    al.'s DT-200M (the `dt` defaults) instead.
    """
    # The dataclass defaults are the paper's settings; only the dtype and data source differ.
    return Config(
        name="paper",
        games=envs.TRAIN_GAMES,
        network=NetworkConfig(dtype="bfloat16"),
        data=DataConfig(source="dqn-replay"),
    )


# The twin's Decision Transformer: a frame is four 5x5 patches; its returns (of rewards of +1)
# reach 191 in the five 5M-frame collections (Space Invaders' best final evaluation episode).
# Sized to cost what the twin's Q-network update costs: 1.32 against 1.04 GFLOP a step of batch
# 64 (XLA's count; 0.15M parameters against 0.70M). d_model 128 with 4 layers costs 9.3 GFLOP,
# 50 minutes a 10k-step run on one core.
TWIN_DT = DecisionTransformerConfig(
    patch_size=5, d_model=64, num_layers=2, num_heads=2, return_min=0, return_max=200
)

# The MAE decoder of the small presets (twin, cpu): He et al.'s 8 blocks of 512 would be 25M
# parameters behind a 0.6M encoder; two blocks of 64 reconstruct the twin's 2x2x10 patches.
TWIN_MAE = MaskedAutoencoderConfig(decoder_width=64, decoder_layers=2, decoder_heads=2)

# The twin's evaluation: the original MinAtar's sticky actions, as its data was played, and an
# episode cap of 10,000 steps, 4x the longest episode of the five 5M-frame collections
# (Freeway's 2,501; the others' longest: Asterix 1,719, SpaceInvaders 2,262).
TWIN_EVAL = EvalConfig(
    episodes=100, max_frames=10_000, sticky_action_prob=envs.minatar.STICKY_ACTION_PROB
)


def twin() -> Config:
    """The MinAtar twin on 2 CPU cores, its budget in passes: the twin's study at a scale where
    temporal-difference learning has the time it needs.

    The five MinAtar games (10x10 object grids, `envs.minatar`), each collected for 1M frames
    by the twin's online DQN and trained on the initial 20 % (200k transitions a game, 1M in
    all); a ResNet-4 at 1/8 width (a 3x3 stem and one basic block of 8 channels, GroupNorm,
    learned spatial embedding, feature normalisation, a 128-unit MLP, one C51 head a game:
    0.21M parameters, 8.3k in the encoder and embedding, 197k in the heads), batch 64,
    **8 passes** over the data (125k gradient steps), drawn in memory inside the jitted loop
    500 steps a call, evaluated with 100 episodes a game after 1/8, 1/4, 1/2 and all of the
    budget. Measured on 2 CPU cores, two runs side by side: Scaled QL 31.7 minutes (75-100
    gradient steps/s; four evaluations, 1.9 minutes the last), BC 16.8 minutes. How the
    budget was declared, and what its first runs' metrics say of it: the book's notes, "The
    twin's budget in passes".
    """
    return Config(
        name="twin",
        games=envs.minatar.ALL_GAMES,
        network=NetworkConfig(encoder="resnet4", width=0.125, mlp_sizes=(128,)),
        data=DataConfig(steps_per_game=1_000_000, capacity=100_000),
        train=TrainConfig(
            batch_size=64,
            target_update_period=500,
            passes=8.0,
            sampler="memory",
            steps_per_call=500,
            checkpoint_every=12_500,
            log_every=1_000,
        ),
        eval=dataclasses.replace(TWIN_EVAL, at_fractions=(0.125, 0.25, 0.5)),
        dt=TWIN_DT,
        mae=TWIN_MAE,
    )


def twin_short() -> Config:
    """The twin's first budget, the study the book's chapters read until it is re-run at
    `twin`'s: 10,000 gradient steps of batch 64 over the initial 20 % of 5M-frame
    collections (0.13 passes over 5 x 1M transitions), a ResNet-18 at 1/8 width with the grid
    stem (0.70M parameters), 100 evaluation episodes a game. A run takes 7.7 minutes on 2 idle
    CPU cores (training 4.0 min, evaluation 3.5).
    """
    base = twin()
    return dataclasses.replace(
        base,
        name="twin-short",
        network=NetworkConfig(encoder="resnet18", width=0.125, mlp_sizes=(256,)),
        data=dataclasses.replace(base.data, steps_per_game=5_000_000),
        train=dataclasses.replace(
            base.train,
            passes=0.0,
            sampler="host",
            num_steps=10_000,
            steps_per_call=10,
            checkpoint_every=2_000,
            log_every=500,
        ),  # fmt: skip
        eval=TWIN_EVAL,
    )


def twin_smoke() -> Config:
    """The twin's CI scale: two MinAtar games, the `smoke` network and steps, data logged by
    the twin's DQN for 3,000 frames a game (its first frames, so near-random play), 5
    evaluation episodes of at most 2,000 steps. Every twin section of the book runs at it in a
    few minutes on 2 CPU cores; its numbers are meaningless.
    """
    return dataclasses.replace(
        smoke(),
        name="twin-smoke",
        games=("minatar/Breakout", "minatar/Asterix"),
        data=DataConfig(subset="all", steps_per_game=3_000, capacity=1_000),
        eval=dataclasses.replace(TWIN_EVAL, episodes=5, max_frames=2_000),
        dt=dataclasses.replace(TWIN_DT, d_model=32, num_layers=1),
    )


def twin_gpu() -> Config:
    """The MinAtar twin on one GPU: a full-width ResNet-34 (with the grid stem) in bfloat16,
    batch 256, 100k gradient steps on the same data as `twin-short`, 200 evaluation episodes a
    game. For the twin's scaling and transfer runs at sizes a CPU cannot train. Each step costs
    216 GFLOP; its update runs at 161 steps/s on one H200 with
    `XLA_FLAGS=--xla_gpu_enable_triton_gemm=false` (XLA's GPU compiler aborts on the grid
    convolutions' matmuls with Triton GEMM fusion on): about 10 minutes of gradient steps. With
    `loss.kind=dt` (d_model 512, 6 layers: 19.3M parameters) 125-127 steps/s: about 13 minutes
    for 100k steps and 1.5 minutes of evaluation.
    """
    return Config(
        name="twin-gpu",
        games=envs.minatar.ALL_GAMES,
        network=NetworkConfig(encoder="resnet34", dtype="bfloat16"),
        data=DataConfig(steps_per_game=5_000_000, capacity=100_000),
        train=TrainConfig(batch_size=256, num_steps=100_000, checkpoint_every=10_000),
        eval=dataclasses.replace(TWIN_EVAL, episodes=200),
        dt=dataclasses.replace(TWIN_DT, d_model=512, num_layers=6, num_heads=8),
        mae=MaskedAutoencoderConfig(decoder_width=256, decoder_layers=4, decoder_heads=8),
    )


PRESETS: dict[str, Callable[[], Config]] = {
    "smoke": smoke,
    "cpu": cpu,
    "gpu": gpu,
    "paper": paper,
    "twin-smoke": twin_smoke,
    "twin": twin,
    "twin-short": twin_short,
    "twin-gpu": twin_gpu,
}


def preset(name: str) -> Config:
    """The named preset; raises a ValueError listing the valid names for an unknown one."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]()


# --- overrides -------------------------------------------------------------------------------


def setting_names(config: Config) -> list[str]:
    """Every key `override` accepts, e.g. `games`, `network.width`, `train.batch_size`."""
    names = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            names += [f"{field.name}.{sub.name}" for sub in dataclasses.fields(value)]
        elif field.name != "name":
            names.append(field.name)
    return names


def _parse(text: str, annotation, key: str):
    """Converts the text of a `key=value` override to the field's annotated type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is tuple:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return tuple(_parse(item, args[0], key) for item in items)
    if type(None) in args:  # `float | None`
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(text, next(a for a in args if a is not type(None)), key)
    if annotation is bool:
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{key}={text!r}: expected true or false")
    try:
        if annotation is int:
            return int(float(text)) if "e" in text.lower() else int(text)
        if annotation is float:
            if "/" in text:
                num, den = text.split("/")
                return float(num) / float(den)
            return float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r}: expected a {annotation.__name__}") from None
    return text


def _coerce(value, annotation, key: str):
    """A typed value for a setting: text parsed as the command line's is; an int where a float
    goes, and a list where a tuple goes, converted; any other type refused."""
    if isinstance(value, str):
        return _parse(value.strip(), annotation, key)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(_coerce(item, args[0], key) for item in value)
    if type(None) in args:  # `float | None`
        if value is None:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), key)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ValueError(f"{key}={value!r}: expected a {annotation.__name__}")
    return value


def changed(config: Config, values: Mapping[str, object]) -> Config:
    """The config with typed changes, {setting name: value} (see `setting_names`), e.g.
    `changed(config, {"loss.kind": "bc", "network.width": 0.5})`, validated together."""
    changes: dict = {}  # field or section: its new value or {field: new value}
    names = setting_names(config)
    for key, value in values.items():
        if key not in names:
            raise ValueError(_unknown_setting(f"{key}={value}", key, names))
        section, _, field = key.rpartition(".")
        owner = type(getattr(config, section)) if section else Config
        typed = _coerce(value, typing.get_type_hints(owner)[field], key)
        if section:
            changes.setdefault(section, {})[field] = typed
        else:
            changes[field] = typed
    if "games" in changes:
        _check_same_family(config, changes["games"])
    sections = {
        name: dataclasses.replace(getattr(config, name), **value)
        for name, value in changes.items()
        if isinstance(value, dict)
    }
    return dataclasses.replace(config, **{**changes, **sections})


def parse_settings(settings: Iterable[str]) -> dict[str, str]:
    """{setting name: its text} of `key=value` settings, as the command line and a chapter's
    `settings` give them (a later one wins); `changed` types each value."""
    parsed = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        if not sep:
            raise ValueError(_unknown_setting(setting, "", []))
        parsed[key.strip()] = text.strip()
    return parsed


def override(config: Config, settings: Iterable[str]) -> Config:
    """Applies `key=value` settings (the command line's, see `setting_names`) and returns the
    new, validated config. The settings are validated together, so their order does not matter
    (a later setting of the same name wins)."""
    return changed(config, parse_settings(settings))


def _unknown_setting(setting: str, key: str, names: list[str]) -> str:
    """The error for a setting that is not `key=value` with a known key: the closest keys when
    it looks misspelled, else how to list them all."""
    if not key:
        return f"{setting!r} is not key=value, e.g. train.num_steps=1000 (`scaledql settings`)"
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    if close:
        return f"unknown setting {key!r}; did you mean {' or '.join(close)}?"
    return f"unknown setting {key!r}; `scaledql settings` lists every key with its meaning"


def _check_same_family(config: Config, games: tuple[str, ...]) -> None:
    """A preset is made for one game family (its network stem, data and evaluation): refuses
    `games` of the other family before anything is collected or trained."""
    for game in games:
        envs.check_game(game)
    wanted, own = envs.check_family(games), envs.check_family(config.games)
    if wanted != own:
        presets = [
            name for name, make in PRESETS.items() if envs.check_family(make().games) == wanted
        ]
        names = {"ale": "Atari (ALE)", "minatar": "MinAtar twin"}
        raise ValueError(
            f"games={','.join(games)} names {names[wanted]} games, but preset {config.name!r} is "
            f"made for {names[own]} games ({', '.join(config.games)}); use one of the presets "
            f"{', '.join(presets)} for them"
        )


def setting_value(config: Config, key: str):
    """The value of a setting name (see `setting_names`), e.g. `network.width` -> 0.25."""
    section, _, field = key.rpartition(".")
    return getattr(getattr(config, section), field) if section else getattr(config, field)


def changed_settings(config: Config) -> list[str]:
    """The `key=value` settings that turn `config.name`'s preset into `config`."""
    base = preset(config.name)
    changed = []
    for key in setting_names(config):
        mine = setting_value(config, key)
        if mine != setting_value(base, key):
            text = ",".join(map(str, mine)) if isinstance(mine, tuple) else str(mine)
            changed.append(f"{key}={text}")
    return changed


def command(config: Config, verb: str = "train") -> str:
    """The `scaledql` command line that reproduces `config`."""
    sets = "".join(f" --set {s}" for s in changed_settings(config))
    return f"scaledql {verb} --preset {config.name}{sets}"


def to_dict(config: Config) -> dict:
    """A JSON-ready dict of the config (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(data: dict) -> Config:
    """The inverse of `to_dict` (lists become tuples again)."""

    def build(cls, values: dict):
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            if dataclasses.is_dataclass(hints[field.name]):
                value = build(hints[field.name], value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[field.name] = value
        return cls(**kwargs)

    return build(Config, data)


def default_value(key: str):
    """The dataclass default of a setting name, e.g. `network.width` -> 1.0 (`games`: none)."""
    section, _, field = key.rpartition(".")
    if not section:
        default = next(f.default for f in dataclasses.fields(Config) if f.name == field)
        return None if default is dataclasses.MISSING else default
    return getattr(typing.get_type_hints(Config)[section](), field)


def setting_is_used(config: Config, key: str) -> bool:
    """Whether a setting shapes the run: the `dt` and `mae` settings only for the loss kind of
    that name, so a preset can size its Decision Transformer and its MAE decoder without
    changing the hash of its other runs."""
    section = key.partition(".")[0]
    return section not in ("dt", "mae") or config.loss.kind == section


def gradient_steps(config: Config, transitions: int) -> int:
    """The run's gradient steps: `train.num_steps`, or with `train.passes` > 0 the steps whose
    batches draw passes x `transitions` samples (the subset's valid transitions), to the
    nearest step and then up to a multiple of `train.steps_per_call`."""
    tc = config.train
    if tc.passes == 0:
        return tc.num_steps
    steps = round(tc.passes * transitions / tc.batch_size)
    if steps == 0:
        least = tc.batch_size / (2 * max(transitions, 1))
        raise ValueError(
            f"train.passes={tc.passes:g} over {transitions:,} transitions at train.batch_size="
            f"{tc.batch_size} is 0 gradient steps; set train.passes to at least {least:.2g}"
        )
    return -(-steps // tc.steps_per_call) * tc.steps_per_call


def evaluation_steps(config: Config, total_steps: int) -> list[int]:
    """The gradient steps after which a run is evaluated: `eval.at_fractions` of its budget,
    each at the nearest multiple of `train.steps_per_call`, then the last step."""
    k = config.train.steps_per_call
    points = {max(k, round(f * total_steps / k) * k) for f in config.eval.at_fractions}
    return sorted(p for p in points if p < total_steps) + [total_steps]


def config_hash(config: Config) -> str:
    """A short, stable hash of what defines a run; records are found by it.

    It covers the preset name, the games and every setting that differs from its dataclass
    default, but not where the data lies (`data.root`). Hashing only the departures from the
    defaults means a setting added later, whose default keeps the old behaviour, leaves every
    existing hash and record valid. The defaults themselves must never change (the paper's
    settings and our documented assumptions); tests/test_configs.py pins them.
    """
    settings = {"name": config.name, "games": list(config.games)}
    for key in setting_names(config):
        value = setting_value(config, key)
        if key in ("games", "data.root") or not setting_is_used(config, key):
            continue
        if value != default_value(key):
            settings[key] = list(value) if isinstance(value, tuple) else value
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
