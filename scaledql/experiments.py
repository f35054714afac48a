"""The runs behind each chapter: which configs a chapter compares, at each preset, and what the
paper reports for each comparison.

Chapters, the CLI and the tests build their runs here, so the same (preset, seed, settings)
always gives the same configs and therefore the same run records. Each comparison carries its
paper reference (`PaperClaim`: the figure or table, the reported numbers from data/paper/, and
the verdict they imply), the way big_vision's configs carry their expected result: a new
ablation is one `ABLATIONS` entry plus its record. At reduced presets the scaling and ablation
sweeps are smaller than the paper's; `SWEEP_SETTINGS` and `SCALING_SIZES` say exactly how, and
the chapters print them.
"""

from __future__ import annotations

import dataclasses
import fractions
from collections.abc import Iterable

from scaledql import configs, data, envs, paper
from scaledql.configs import Config


@dataclasses.dataclass(frozen=True)
class PaperClaim:
    """What the paper reports for one comparison: a run (Scaled QL, the larger network, the
    fine-tuned encoder) against another (its data, an ablation, the smaller network, scratch).

    source: the figure, table or section. verdict: where the paper puts the run against the
    other, in `analysis.agreement`'s terms ("above", "below", "not above", "not below"), the
    order `analysis.compare(run, other)` takes. run, other: the paper's numbers for the two,
    where it prints them. gain: the run's gain over the other in %, where it reports only that.
    """

    source: str
    verdict: str
    run: float | None = None
    other: float | None = None
    gain: float | None = None

    @property
    def difference(self) -> float | None:
        """The paper's run minus the other, where it prints both."""
        return None if self.run is None else self.run - self.other


@dataclasses.dataclass(frozen=True)
class Ablation:
    """One ablation of Tables 1-2 and App. B.3-B.4: the variant's label, the settings that make
    it from Scaled QL, and the paper's claim for Scaled QL against it."""

    label: str
    settings: tuple[str, ...]
    paper: PaperClaim


# The presets the chapters have runs for. The MinAtar twin's presets (`twin`, `twin-gpu`) train
# and record runs (`scaledql train --preset twin`), and get their chapter runs with the twin's
# study.
BOOK_PRESETS: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper")

# Settings every sweep run (scaling, ablations) gets on top of its preset, to fit the preset's
# time budget: a sweep has 9 or 5 runs where the multi-game chapter has 2.
SWEEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "smoke": (),
    "cpu": ("train.num_steps=10000",),
    "gpu": (),
    "paper": (),
    # the twin's sweeps train as long as its multi-game runs, whose seeds are their baseline
    "twin-smoke": (),
    "twin": (),
    "twin-short": (),
    "twin-gpu": (),
}

# (encoder, width) of the ResNet sizes and the widths of the IMPALA sizes in the scaling sweep.
# The paper varies ResNet depth (34 to 152) at full width; on a CPU only narrow ResNet-18s fit,
# so there the size changes with width instead. IMPALA keeps the full 84x84 resolution in its
# first stage, so it costs far more per parameter: with the cpu preset's batch, XLA counts
# 26.6 GFLOP a step at width 1 and 391 at width 4, against 10.3 for ResNet-18 x1/4; on a CPU
# its widths are therefore 1/8 to 1/2.
SCALING_SIZES: dict[str, dict[str, tuple]] = {
    "smoke": {"resnet": (("resnet18", 1 / 32), ("resnet18", 1 / 16), ("resnet18", 1 / 8)),
              "impala": (0.125, 0.25, 0.5)},
    "cpu": {"resnet": (("resnet18", 1 / 16), ("resnet18", 1 / 8), ("resnet18", 1 / 4)),
            "impala": (0.125, 0.25, 0.5)},
    "gpu": {"resnet": (("resnet18", 1.0), ("resnet34", 1.0), ("resnet50", 1.0)),
            "impala": (1.0, 2.0, 4.0)},
    "paper": {"resnet": (("resnet34", 1.0), ("resnet50", 1.0), ("resnet101", 1.0),
                         ("resnet152", 1.0)),
              "impala": (1.0, 2.0, 4.0)},
    # The twin's sizes span over two orders of magnitude of encoder parameters (12.6k to 1.34M
    # for the ResNets at `twin`, 1.9k to 393k for IMPALA); its heads and MLP (0.4M) do not grow
    # with the encoder. The ResNet + C51 point at the preset's own network is the multi-game
    # chapter's Scaled QL run, shared.
    "twin-smoke": {"resnet": (("resnet18", 1 / 32), ("resnet18", 1 / 16)),
                   "impala": (0.125, 0.25)},
    # At `twin` the shallow ResNets: 3.9k to 1.2M parameters in the encoder and embedding.
    "twin": {"resnet": (("resnet4", 1 / 16), ("resnet4", 1 / 8), ("resnet6", 1 / 4),
                        ("resnet10", 1 / 2)),
             "impala": (0.125, 0.5, 1.0, 2.0)},
    "twin-short": {"resnet": (("resnet18", 1 / 32), ("resnet18", 1 / 16), ("resnet18", 1 / 8),
                              ("resnet34", 1 / 4)),
                   "impala": (0.125, 0.5, 1.0, 2.0)},
    "twin-gpu": {"resnet": (("resnet18", 1 / 8), ("resnet18", 1 / 2), ("resnet34", 1.0),
                            ("resnet101", 1.0)),
                 "impala": (0.25, 1.0, 2.0, 4.0)},
}  # fmt: skip

# Fig. 6: ResNets improve with size (C51 and MSE alike); CQL with IMPALA networks does not.
SCALING_CLAIMS: dict[str, PaperClaim] = {
    "ResNet + C51": PaperClaim("Fig. 6", "above"),
    "ResNet + MSE": PaperClaim("Fig. 6", "above"),
    "IMPALA + C51": PaperClaim("Fig. 6 (IMPALA CQL of Lee et al. 2022)", "not above"),
}


def _table_medians(table: str, baseline: dict, run: dict, source: str) -> PaperClaim:
    """The paper's claim that Scaled QL (`baseline`'s row of `table`) lies above `run`'s row."""
    return PaperClaim(
        source, "above", paper.reported(table, **baseline), paper.reported(table, **run)
    )


ABLATIONS: dict[str, Ablation] = {
    "TD loss": Ablation(
        "MSE",
        ("loss.kind=mse",),
        _table_medians(
            "table1_loss_capacity",
            {"encoder": "resnet101", "loss": "c51"},
            {"encoder": "resnet101", "loss": "mse"},
            "Table 1, ResNet-101, 40 games",
        ),
    ),
    "feature normalisation": Ablation(
        "without",
        ("network.feature_norm=false",),
        _table_medians(
            "table2_feature_norm",
            {"encoder": "resnet34", "feature_norm": "true"},
            {"encoder": "resnet34", "feature_norm": "false"},
            "Table 2, ResNet-34, 5 games",
        ),
    ),
    "readout": Ablation(
        "mean pooling",
        ("network.readout=pool",),
        PaperClaim("Appendix B.3: spatial embedding better; no number in the main text", "above"),
    ),
    "conservatism": Ablation(
        "CQL alpha 0",
        ("loss.cql_alpha=0",),
        PaperClaim("Appendix B.4: pessimism crucial; no number in the main text", "above"),
    ),
}

# Beyond the paper: later work that kept the paper's setting, each a one-setting variant of
# Scaled QL studied as the ablations are, but as a study of its own, so that the ablations'
# seeds stay whole without it. Its claim is the later paper's, for Scaled QL against it.
LATER_WORK: dict[str, Ablation] = {
    "TD loss, later work": Ablation(
        "HL-Gauss",
        ("loss.kind=hl_gauss",),
        PaperClaim(
            "Farebrother et al. (2024), multi-game offline Atari: HL-Gauss ahead of C51 and "
            "MSE; no number taken here",
            "below",
        ),
    ),
}

DT = "DT"  # the multi-game Decision Transformer (Lee et al., 2022), `loss.kind=dt`

# Fig. 2 and 5: the paper's IQMs (%) on the initial 20 % of DQN Replay and on all of it, by the
# paper's names, and its claims for Scaled QL against the data and against imitation of it.
MULTI_GAME_DATA = "initial 20 % (sub-optimal)"
NEAR_OPTIMAL_DATA = "all (near-optimal)"
PAPER_IQM_BY_DATA: dict[str, dict[str, float]] = {
    dataset: {
        method: paper.reported("aggregates", method=method, data=dataset)
        for method in ("Scaled QL", "Behaviour policy", "DT (200M)")
    }
    for dataset in (MULTI_GAME_DATA, NEAR_OPTIMAL_DATA)
}
MULTI_GAME_PAPER_IQM: dict[str, float] = PAPER_IQM_BY_DATA[MULTI_GAME_DATA]


def _claims_on(dataset: str, versus_imitation: str) -> dict[str, PaperClaim]:
    iqm = PAPER_IQM_BY_DATA[dataset]
    dt = f"DT (200M) at {iqm['DT (200M)']:g} %"
    return {
        "behaviour data": PaperClaim(
            "Fig. 5 caption and Sec. 3", "above", iqm["Scaled QL"], iqm["Behaviour policy"]
        ),
        "BC": PaperClaim(f"Fig. 2 and 5: the imitation baselines, best {dt}", versus_imitation),
        DT: PaperClaim("Fig. 5 caption", versus_imitation, iqm["Scaled QL"], iqm["DT (200M)"]),
    }


# On sub-optimal data the paper puts Scaled QL far above imitation; on near-optimal data its
# 114.1 % is level with DT's 111.8 %, so there the claim is only that it is not below.
MULTI_GAME_CLAIMS_BY_DATA: dict[str, dict[str, PaperClaim]] = {
    MULTI_GAME_DATA: _claims_on(MULTI_GAME_DATA, "above"),
    NEAR_OPTIMAL_DATA: _claims_on(NEAR_OPTIMAL_DATA, "not below"),
}
MULTI_GAME_CLAIMS: dict[str, PaperClaim] = MULTI_GAME_CLAIMS_BY_DATA[MULTI_GAME_DATA]


# Offline fine-tuning (Fig. 7): the held-out games, none of which may be among the preset's
# pre-training games (the cpu and gpu presets pre-train on Pong and SpaceInvaders, so they
# hold out the other three of the paper's five), and the settings of a fine-tuning run.
HELD_OUT_BY_PRESET: dict[str, tuple[str, ...]] = {
    "smoke": ("Alien",),
    "cpu": ("Alien", "MsPacman", "StarGunner"),
    "gpu": ("Alien", "MsPacman", "StarGunner"),
    "paper": envs.HELD_OUT_GAMES,
}
# The paper fine-tunes on "1 % uniform" of a held-out game's DQN Replay run: 500k transitions.
# The cpu runs are 500 times shorter (100k steps), where 1 % is 1,000 transitions, a handful
# of episodes, so cpu takes 10 % (10k). The paper does not give the fine-tuning steps: ours
# are assumptions, 3k at cpu (about 19 passes over the 10k transitions at batch 64).
# The twin fine-tunes on the paper's 1 % uniform (50,000 transitions of a 5M-frame run; its
# 3,000-frame twin-smoke runs have too few rows for 1 %) for as many steps as cpu does.
OFFLINE_FINETUNE_SETTINGS: dict[str, tuple[str, ...]] = {
    "smoke": ("data.subset=uniform:50",),
    "cpu": ("data.subset=uniform:10", "train.num_steps=3000", "train.checkpoint_every=1000"),
    "gpu": ("data.subset=uniform:1", "train.num_steps=20000"),
    "paper": ("data.subset=uniform:1", "train.num_steps=100000"),
    "twin-smoke": ("data.subset=uniform:50",),
    "twin": ("data.subset=uniform:1",),  # 10k transitions of a 1M-frame run, at twin's passes
    "twin-short": ("data.subset=uniform:1", "train.num_steps=3000", "train.checkpoint_every=1000"),
    "twin-gpu": ("data.subset=uniform:1", "train.num_steps=20000"),
}
# Fig. 7: the fine-tuned encoder against scratch, and against the other pre-training methods
# (DT, BC, CPC, MAE; not rebuilt here), as relative gains in DQN-normalised score.
OFFLINE_FINETUNE_CLAIMS: dict[str, PaperClaim] = {
    versus: PaperClaim(
        "Fig. 7 caption",
        "above",
        gain=paper.reported("finetuning", comparison=f"Scaled QL (fine-tuned) vs {versus}"),
    )
    for versus in ("Scaled QL (scratch)", "other pre-training")
}
# variant -> the settings that make it, given the pre-trained run's config hash
FINE_TUNED = "Scaled QL (fine-tuned)"
OFFLINE_VARIANTS: dict[str, tuple[str, ...]] = {
    FINE_TUNED: ("finetune.pretrained={hash}",),
    "Scaled QL (frozen)": ("finetune.pretrained={hash}", "finetune.encoder=frozen"),
    "Scaled QL (scratch)": (),
}

# Fig. 7's other pre-training methods, each pre-trained on the same games, data and budget as
# the Scaled QL run it stands beside, then fine-tuned on the held-out game's subset as Scaled
# QL is: {row: (pre-training settings, fine-tuning settings)}. BC and DT fine-tune with their
# own objective (Lee et al.'s protocol). MAE pre-trains a vit encoder by reconstruction, then
# the paper freezes it under Scaled QL's CQL + C51 Q-network; its tokens are mean-pooled (a
# learned spatial readout behind a frozen encoder would train as part of the encoder, which
# `finetune.encoder=frozen` keeps still). "{vit_width}" is the preset's `MAE_VIT_WIDTH`.
PRETRAINING_METHODS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "MAE": (
        ("loss.kind=mae", "network.encoder=vit", "network.width={vit_width}"),
        ("loss.kind=c51", "network.readout=pool", "finetune.encoder=frozen"),
    ),
    "BC (pre-trained)": (("loss.kind=bc",), ()),
    "DT (pre-trained)": (("loss.kind=dt",), ()),
}
# The MAE's vit width at each preset: ViT-Base (85.8M parameters, the paper's "80M") at gpu
# and paper; elsewhere the narrowest ViT-Base, one 64-channel head a block (0.60M encoder
# parameters on the twin's grids, against its ResNet's 0.18M).
MAE_VIT_WIDTH: dict[str, str] = {
    "smoke": "1/12", "cpu": "1/12", "gpu": "1", "paper": "1",
    "twin-smoke": "1/12", "twin": "1/12", "twin-short": "1/12", "twin-gpu": "1/2",
}  # fmt: skip


def pretraining_method(source: Config, tuned: Config, method: str) -> tuple[Config, Config]:
    """(the method's pre-training run, its fine-tuning run): `source` (a Scaled QL run to
    pre-train as) and `tuned` (a run that fine-tunes from it) changed to `method` of
    `PRETRAINING_METHODS`; the fine-tuning run starts from the method's own pre-training."""
    pretraining, finetuning = PRETRAINING_METHODS[method]
    changes = [c.format(vit_width=MAE_VIT_WIDTH[source.name]) for c in pretraining]
    pretrained = configs.override(source, changes)
    started = f"finetune.pretrained={configs.config_hash(pretrained)}"
    return pretrained, configs.override(tuned, [*changes, *finetuning, started])


# Online fine-tuning (Fig. 8): (game, mode, difficulty) of the paper's new game variants, and
# each preset's budget. The paper fine-tunes for 3M frames (750k agent steps); cpu plays 25k
# agent steps (100k frames), with a 10k replay (also its checkpoint interval) and the
# exploration schedule shrunk to fit (Dopamine's 20k warmup and 250k decay are for 50M).
# The twin plays each of its four variants (`envs.minatar.VARIANTS`; MinAtar has no
# difficulties). The paper's 3M frames are 6 % of its DQN's 50M; the twin's 6 % of its data
# runs' 5M frames would be 300k frames, which twin-gpu plays. On 2 CPU cores `twin` plays 50k
# frames (1 %), about 10 minutes a run on one core (12.5k gradient steps), with Dopamine's
# MinAtar warmup of 1,000 frames and epsilon falling to 0.01 over the next 10,000.
ONLINE_VARIANTS: tuple[tuple[str, int, int], ...] = (("Freeway", 1, 0), ("Hero", 1, 0),
                                                     ("Breakout", 12, 0))  # fmt: skip
TWIN_ONLINE_VARIANTS: tuple[tuple[str, int, None], ...] = tuple(
    (game, mode, None) for game, modes in envs.minatar.VARIANTS.items() for mode in modes
)
ONLINE_SETTINGS: dict[str, tuple[str, ...]] = {
    "smoke": ("online.agent_steps=300", "online.warmup=50", "online.epsilon_decay=100",
              "online.replay_capacity=100"),
    "cpu": ("online.agent_steps=25000", "online.warmup=2000", "online.epsilon_decay=10000",
            "online.replay_capacity=10000"),
    "gpu": ("online.agent_steps=250000", "online.replay_capacity=50000"),
    "paper": ("online.agent_steps=750000",),
    "twin-smoke": ("online.agent_steps=2000", "online.warmup=200", "online.epsilon_decay=500",
                   "online.replay_capacity=1000"),
    "twin": ("online.agent_steps=50000", "online.warmup=1000", "online.epsilon_decay=10000",
             "online.replay_capacity=10000"),
    "twin-short": ("online.agent_steps=50000", "online.warmup=1000",
                   "online.epsilon_decay=10000", "online.replay_capacity=10000"),
    "twin-gpu": ("online.agent_steps=300000", "online.warmup=1000",
                 "online.epsilon_decay=50000", "online.replay_capacity=100000"),
}  # fmt: skip
ONLINE_PRESET_VARIANTS = {
    "smoke": ONLINE_VARIANTS[-1:],  # smoke plays Breakout mode 12 only
    "twin-smoke": (("minatar/Breakout", 1, None),),
    "twin": TWIN_ONLINE_VARIANTS,
    "twin-short": TWIN_ONLINE_VARIANTS,
    "twin-gpu": TWIN_ONLINE_VARIANTS,
}
ONLINE_PRETRAINED = "Scaled QL (pre-trained)"  # the online variant from the pre-trained encoder
# Fig. 8: pre-trained Scaled QL above scratch in every new mode after 3M frames (bars only),
# and above the frozen MAE encoder under the same online Q-learning.
ONLINE_FINETUNE_CLAIM = PaperClaim("Fig. 8 (bars only)", "above")
ONLINE_PRETRAINING_METHODS: tuple[str, ...] = ("MAE",)

# A chapter's named knobs and the setting each one sets (see `knob_settings`).
KNOBS = {
    "games": "games",
    "encoder": "network.encoder",
    "width": "network.width",
    "loss": "loss.kind",
    "cql_alpha": "loss.cql_alpha",
    "num_steps": "train.num_steps",
}


def knob_settings(**knobs) -> list[str]:
    """`key=value` settings for the knobs a chapter's parameters cell names, skipping those
    left empty (None, "" or []): `knob_settings(games=["Pong"], cql_alpha=0.5)` ->
    `["games=Pong", "loss.cql_alpha=0.5"]`."""
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise ValueError(f"unknown knobs {unknown}; the chapters' knobs are: {', '.join(KNOBS)}")
    settings = []
    for name, value in knobs.items():
        if value is None or value == "" or (isinstance(value, list | tuple) and not value):
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        settings.append(f"{KNOBS[name]}={text}")
    return settings


@dataclasses.dataclass(frozen=True)
class SizePoint:
    """One run of the scaling sweep: its family, a label for its size, and its config."""

    family: str
    label: str
    config: Config


def chapter_config(preset: str, seed: int = 0, settings: Iterable[str] = ()) -> Config:
    """The preset, with the chapter's seed and a reader's `key=value` changes."""
    return configs.override(dataclasses.replace(configs.preset(preset), seed=seed), settings)


def sweep_config(preset: str, seed: int = 0, settings: Iterable[str] = ()) -> Config:
    """The base of a sweep: the preset, its `SWEEP_SETTINGS`, then the reader's changes."""
    return chapter_config(preset, seed, (*SWEEP_SETTINGS[preset], *settings))


def multi_game(preset: str, seed: int = 0, settings: Iterable[str] = ()) -> dict[str, Config]:
    """Scaled QL and BC with the same network and data (the paper's Fig. 2 and 5)."""
    scaled_ql = chapter_config(preset, seed, settings)
    return {"Scaled QL": scaled_ql, "BC": configs.override(scaled_ql, ["loss.kind=bc"])}


def decision_transformer(preset: str, seed: int = 0, settings: Iterable[str] = ()) -> Config:
    """Lee et al.'s multi-game Decision Transformer on Scaled QL's data, with its batch, steps
    and optimiser (the preset's `dt` settings size it)."""
    return configs.override(chapter_config(preset, seed, settings), ["loss.kind=dt"])


def scaling(preset: str, seed: int = 0, settings: Iterable[str] = ()) -> list[SizePoint]:
    """The sizes of the paper's Fig. 6: ResNet with C51, ResNet with MSE, IMPALA with C51."""
    base = sweep_config(preset, seed, settings)
    sizes = SCALING_SIZES[preset]
    points = []
    for loss in ("c51", "mse"):
        for encoder, width in sizes["resnet"]:
            changes = [f"network.encoder={encoder}", f"network.width={width}", f"loss.kind={loss}"]
            label = f"{encoder} {_width_label(width)}"
            points.append(
                SizePoint(f"ResNet + {loss.upper()}", label, configs.override(base, changes))
            )
    for width in sizes["impala"]:
        changes = ["network.encoder=impala", f"network.width={width}", "loss.kind=c51"]
        points.append(
            SizePoint(
                "IMPALA + C51", f"impala {_width_label(width)}", configs.override(base, changes)
            )
        )
    return points


def ablations(
    preset: str, seed: int = 0, settings: Iterable[str] = ()
) -> tuple[Config, dict[str, tuple[str, Config]]]:
    """Scaled QL and, for each ablation of Tables 1-2 and Appendix B.3-B.4, its variant."""
    base = sweep_config(preset, seed, settings)
    return base, {
        name: (ablation.label, configs.override(base, ablation.settings))
        for name, ablation in ABLATIONS.items()
    }


def later_work(
    preset: str, seed: int = 0, settings: Iterable[str] = ()
) -> dict[str, tuple[str, Config]]:
    """{name: (label, variant)} of each `LATER_WORK` variant of `ablations`' Scaled QL."""
    base = sweep_config(preset, seed, settings)
    return {
        name: (work.label, configs.override(base, work.settings))
        for name, work in LATER_WORK.items()
    }


def _finetuning_source(preset: str, seed: int, settings: Iterable[str], games) -> Config:
    """The pre-trained run fine-tuning starts from: the Scaled QL run of the multi-game
    chapter. Raises a ValueError when one of `games` is among its training games."""
    source = chapter_config(preset, seed, settings)
    seen = sorted(set(games) & set(source.games))
    if seen:
        raise ValueError(
            f"the held-out games {', '.join(seen)} are also pre-training games "
            f"({', '.join(source.games)}), so fine-tuning on them tests no transfer; "
            "pre-train without them (games=...)"
        )
    return source


def offline_finetuning(
    preset: str,
    seed: int = 0,
    settings: Iterable[str] = (),
    tuning: Iterable[str] = (),
    held_out: tuple[str, ...] | None = None,
) -> tuple[Config, dict[str, dict[str, Config]]]:
    """The pre-trained run, and for each variant of Fig. 7 one run per held-out game.

    settings change the pre-trained run (and so every fine-tuning run's network); tuning
    changes only the fine-tuning runs, after the preset's `OFFLINE_FINETUNE_SETTINGS`.
    held_out: the games to fine-tune on; None for the preset's `HELD_OUT_BY_PRESET`."""
    games = HELD_OUT_BY_PRESET[preset] if held_out is None else held_out
    source = _finetuning_source(preset, seed, settings, games)
    base = configs.override(source, [*OFFLINE_FINETUNE_SETTINGS[preset], *tuning])
    source_hash = configs.config_hash(source)
    return source, {
        variant: {
            game: configs.override(
                base, [f"games={game}", *(c.format(hash=source_hash) for c in changes)]
            )
            for game in games
        }
        for variant, changes in OFFLINE_VARIANTS.items()
    }


def variant_label(game: str, mode: int, difficulty: int | None) -> str:
    """A game variant's name: `Breakout m12d0` in ALE, `minatar/Breakout m1` on the twin."""
    return f"{game} m{mode}" + ("" if difficulty is None else f"d{difficulty}")


def online_finetuning(
    preset: str, seed: int = 0, settings: Iterable[str] = (), tuning: Iterable[str] = ()
) -> tuple[Config, dict[str, dict[str, Config]]]:
    """The pre-trained run, and for pre-trained and scratch one online run per game variant
    of Fig. 8, keyed by `variant_label`. settings and tuning as in `offline_finetuning`."""
    variants = ONLINE_PRESET_VARIANTS.get(preset, ONLINE_VARIANTS)
    source = chapter_config(preset, seed, settings)
    source_hash = configs.config_hash(source)
    runs: dict[str, dict[str, Config]] = {}
    for variant, changes in (
        (ONLINE_PRETRAINED, [f"finetune.pretrained={source_hash}"]),
        ("Scaled QL (scratch)", []),
    ):
        runs[variant] = {
            # the game first: settings apply in order, and an online run plays one game
            variant_label(game, mode, difficulty): configs.override(
                source,
                [
                    f"games={game}",
                    *ONLINE_SETTINGS[preset],
                    f"online.mode={mode}",
                    f"online.difficulty={'none' if difficulty is None else difficulty}",
                    *tuning,
                    *changes,
                ],
            )
            for game, mode, difficulty in variants
        }
    return source, runs


# --- the MinAtar twin's study ---------------------------------------------------------------
# Each book preset's twin: the chapters run the twin's study beside their ALE runs. At cpu
# they read the study recorded at the twin's first budget (`twin-short`, 0.13 passes) until it
# is re-run at `twin`'s 8 passes.
TWIN_OF: dict[str, str] = {
    "smoke": "twin-smoke", "cpu": "twin-short", "gpu": "twin-gpu", "paper": "twin-gpu"
}  # fmt: skip
TWIN_PRESETS = ("twin-smoke", "twin", "twin-short", "twin-gpu")  # every preset with a study
# Training seeds (rliable's runs) of each chapter's twin runs: 5 where the paper's claims rest
# on differences between variants of one recipe (the multi-game comparison, the ablations),
# 3 elsewhere. At twin-smoke every chapter takes 2, enough to aggregate over seeds.
TWIN_SEEDS: dict[str, int] = {
    "04_multi_game": 5, "05_scaling": 3, "06_ablations": 5,
    "07_offline_finetuning": 3, "08_online_finetuning": 3,
}  # fmt: skip
TWIN_SMOKE_SEEDS = 2
# Chapter 4's two datasets (Fig. 2 and 5): the first 20 % of each game's run, and all of it.
TWIN_DATASETS: dict[str, str] = {MULTI_GAME_DATA: "initial:20", NEAR_OPTIMAL_DATA: "all"}


def twin_trained_by_chapters(twin_preset: str, train: bool | None = None) -> bool:
    """Whether a chapter trains its missing twin runs: as `train` says, and by default only at
    twin-smoke. At the other twin presets a study takes hours, so `scaledql runs --preset P
    --train` makes it and the chapters read the whole seeds it has recorded."""
    return twin_preset == "twin-smoke" if train is None else train


def twin_seeds(twin_preset: str, chapter: str, first: int = 0) -> list[int]:
    """The training seeds of a chapter's twin runs: `TWIN_SEEDS[chapter]` of them from `first`
    (`TWIN_SMOKE_SEEDS` at twin-smoke)."""
    if chapter not in TWIN_SEEDS:
        raise ValueError(f"no twin runs for chapter {chapter!r}; chapters: {', '.join(TWIN_SEEDS)}")
    count = TWIN_SMOKE_SEEDS if twin_preset == "twin-smoke" else TWIN_SEEDS[chapter]
    return list(range(first, first + count))


def dataset_settings(twin_preset: str, subset: str) -> list[str]:
    """The settings of one of chapter 4's datasets: its subset; under a budget in passes the
    runs on all the data keep the gradient steps of those on its initial 20 % (so a fifth of
    the passes). An assumption: the paper does not give its steps, and its two settings most
    likely share one budget."""
    passes = configs.preset(twin_preset).train.passes
    if not passes or subset == TWIN_DATASETS[MULTI_GAME_DATA]:
        return [f"data.subset={subset}"]
    initial = data.parse_subset(TWIN_DATASETS[MULTI_GAME_DATA]).percent / 100
    return [f"data.subset={subset}", f"train.passes={passes * initial:g}"]


def twin_multi_game(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = ()
) -> dict[str, dict[str, list[Config]]]:
    """{dataset: {method: [config of each seed]}}: `multi_game` on each of `TWIN_DATASETS`,
    one Scaled QL and one BC run per training seed."""
    seeds = twin_seeds(twin_preset, "04_multi_game", first_seed)
    study: dict[str, dict[str, list[Config]]] = {}
    for dataset, subset in TWIN_DATASETS.items():
        chosen = dataset_settings(twin_preset, subset)
        by_seed = [multi_game(twin_preset, s, [*chosen, *settings]) for s in seeds]
        study[dataset] = {method: [runs[method] for runs in by_seed] for method in by_seed[0]}
    return study


def twin_decision_transformer(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = ()
) -> dict[str, list[Config]]:
    """{dataset: [config of each seed]}: `decision_transformer` on chapter 4's datasets with its
    seeds. A study of its own, so that chapter 4's Scaled QL and BC seeds are whole without
    it; the chapter compares it with them seed for seed once it has whole seeds."""
    seeds = twin_seeds(twin_preset, "04_multi_game", first_seed)
    return {
        dataset: [decision_transformer(twin_preset, s, [*dataset_settings(twin_preset, subset),
                                                        *settings])
                  for s in seeds]
        for dataset, subset in TWIN_DATASETS.items()
    }  # fmt: skip


def _width_label(width: float) -> str:
    return f"x{fractions.Fraction(width).limit_denominator(64)}"


def twin_scaling(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = ()
) -> list[list[SizePoint]]:
    """Fig. 6 on the twin: `scaling`'s sweep once for each of the chapter's training seeds,
    [seed][size point], the points in the same order for every seed."""
    return [
        scaling(twin_preset, s, settings) for s in twin_seeds(twin_preset, "05_scaling", first_seed)
    ]


def twin_ablations(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = ()
) -> tuple[list[Config], dict[str, tuple[str, list[Config]]]]:
    """`ablations` for each training seed: Scaled QL's seeds (the multi-game chapter's runs on
    the initial 20 %), and for each ablation its label and one variant a seed."""
    seeds = twin_seeds(twin_preset, "06_ablations", first_seed)
    by_seed = [ablations(twin_preset, s, settings) for s in seeds]
    return [base for base, _ in by_seed], {
        name: (label, [variants[name][1] for _, variants in by_seed])
        for name, (label, _) in by_seed[0][1].items()
    }


def twin_later_work(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = ()
) -> dict[str, tuple[str, list[Config]]]:
    """{name: (label, [variant of each seed])}: `later_work` for each of the ablation chapter's
    training seeds, compared with the same Scaled QL seeds as `twin_ablations`' variants."""
    seeds = twin_seeds(twin_preset, "06_ablations", first_seed)
    by_seed = [later_work(twin_preset, s, settings) for s in seeds]
    return {
        name: (label, [variants[name][1] for variants in by_seed])
        for name, (label, _) in by_seed[0].items()
    }


def twin_offline_finetuning(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = (), tuning: Iterable[str] = ()
) -> dict[str, list[tuple[Config, dict[str, Config]]]]:
    """Fig. 7 leave-one-out on the twin: {held-out game: [(the run pre-trained on the other
    games, {variant: the fine-tuning run on the held-out game}) for each training seed]}, every
    game held out in turn. settings and tuning as in `offline_finetuning`."""
    games = configs.preset(twin_preset).games
    out = {}
    for game in games:
        others = "games=" + ",".join(g for g in games if g != game)
        out[game] = []
        for s in twin_seeds(twin_preset, "07_offline_finetuning", first_seed):
            source, runs = offline_finetuning(
                twin_preset, s, [*settings, others], tuning, held_out=(game,)
            )
            out[game].append((source, {v: by_game[game] for v, by_game in runs.items()}))
    return out


def twin_transfer_runs(
    plan: dict[str, list[tuple[Config, dict[str, Config]]]],
) -> dict[tuple[str, str], list[Config]]:
    """{(held-out game, variant): [fine-tuning config of each seed]} of a
    `twin_offline_finetuning` plan, as `records.whole_seeds` and `pipeline.seed_records` take
    a study."""
    return {
        (game, variant): [variants[variant] for _, variants in by_seed]
        for game, by_seed in plan.items()
        for variant in by_seed[0][1]
    }


def twin_pretraining_methods(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = (), tuning: Iterable[str] = ()
) -> tuple[dict[tuple[str, str], list[Config]], dict[tuple[str, str], list[Config]]]:
    """Fig. 7's other pre-training methods on the twin, a study of their own beside
    `twin_offline_finetuning`'s: ({(held-out game, method): [pre-training run of each seed]},
    {(held-out game, method): [fine-tuning run of each seed]}), each method pre-trained on the
    same games, data and seed as that seed's Scaled QL run (`pretraining_method`)."""
    plan = twin_offline_finetuning(twin_preset, first_seed, settings, tuning)
    pretrained: dict[tuple[str, str], list[Config]] = {}
    tuned: dict[tuple[str, str], list[Config]] = {}
    for game, by_seed in plan.items():
        for method in PRETRAINING_METHODS:
            for source, variants in by_seed:
                start, run = pretraining_method(source, variants[FINE_TUNED], method)
                pretrained.setdefault((game, method), []).append(start)
                tuned.setdefault((game, method), []).append(run)
    return pretrained, tuned


def twin_online_finetuning(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = (), tuning: Iterable[str] = ()
) -> tuple[list[Config], dict[tuple[str, str], list[Config]]]:
    """Fig. 8 on the twin: the pre-trained run of each training seed (the multi-game chapter's
    Scaled QL on the initial 20 %, every game in its default variant), and {(game, variant):
    [online run of each seed]} for pre-trained and scratch in each game's new variant (one a
    game: `ONLINE_PRESET_VARIANTS`). settings and tuning as in `offline_finetuning`."""
    seeds = twin_seeds(twin_preset, "08_online_finetuning", first_seed)
    by_seed = [online_finetuning(twin_preset, s, settings, tuning) for s in seeds]
    runs: dict[tuple[str, str], list[Config]] = {}
    for _, variants in by_seed:
        for variant, by_label in variants.items():
            for config in by_label.values():
                runs.setdefault((config.games[0], variant), []).append(config)
    return [source for source, _ in by_seed], runs


def twin_online_pretraining_methods(
    twin_preset: str, first_seed: int = 0, settings: Iterable[str] = (), tuning: Iterable[str] = ()
) -> tuple[dict[str, list[Config]], dict[tuple[str, str], list[Config]]]:
    """Fig. 8's other pre-training (`ONLINE_PRETRAINING_METHODS`) on the twin, a study of its
    own beside `twin_online_finetuning`'s: ({method: [pre-training run of each seed]},
    {(game, method): [online run of each seed]}), each pre-trained as that seed's Scaled QL
    run and playing as its pre-trained online runs do (`pretraining_method`)."""
    sources, runs = twin_online_finetuning(twin_preset, first_seed, settings, tuning)
    pretrained: dict[str, list[Config]] = {}
    online: dict[tuple[str, str], list[Config]] = {}
    for method in ONLINE_PRETRAINING_METHODS:
        for (game, variant), seeds in runs.items():
            if variant != ONLINE_PRETRAINED:
                continue
            pairs = [pretraining_method(s, c, method) for s, c in zip(sources, seeds, strict=True)]
            pretrained[method] = [start for start, _ in pairs]
            online[(game, method)] = [run for _, run in pairs]
    return pretrained, online


def twin_book_runs(twin_preset: str, first_seed: int = 0) -> list[tuple[str, str, Config]]:
    """(chapter, label, config) of every twin run the chapters load at `twin_preset`, each
    chapter's seed by seed, so that a study stopped part way has whole seeds of every
    comparison."""
    multi_game_runs = twin_multi_game(twin_preset, first_seed)
    planned = [
        ("04_multi_game", f"{method}, {dataset}, seed {seeds[i].seed}", seeds[i])
        for i in range(len(twin_seeds(twin_preset, "04_multi_game")))
        for dataset, methods in multi_game_runs.items()
        for method, seeds in methods.items()
    ]
    for points in twin_scaling(twin_preset, first_seed):
        planned += [
            ("05_scaling", f"{p.family}, {p.label}, seed {p.config.seed}", p.config) for p in points
        ]
    base, variants = twin_ablations(twin_preset, first_seed)
    for i, config in enumerate(base):
        planned.append(("06_ablations", f"Scaled QL, seed {config.seed}", config))
        planned += [
            ("06_ablations", f"{name}: {label}, seed {config.seed}", seeds[i])
            for name, (label, seeds) in variants.items()
        ]
    transfer = twin_offline_finetuning(twin_preset, first_seed)
    for i in range(len(twin_seeds(twin_preset, "07_offline_finetuning"))):
        for game, by_seed in transfer.items():
            source, variants = by_seed[i]
            planned.append(
                ("07_offline_finetuning", f"pre-trained without {game}, seed {source.seed}", source)
            )
            planned += [
                ("07_offline_finetuning", f"{variant}, {game}, seed {source.seed}", config)
                for variant, config in variants.items()
            ]
    sources, online = twin_online_finetuning(twin_preset, first_seed)
    for i, source in enumerate(sources):
        planned.append(
            ("08_online_finetuning", f"pre-trained Scaled QL, seed {source.seed}", source)
        )
        for (game, variant), seeds in online.items():
            label = f"{variant}, {game} m{seeds[i].online.mode}, seed {source.seed}"
            planned.append(("08_online_finetuning", label, seeds[i]))
    # the comparison methods last: the paper's claims are studied first
    for dataset, seeds in twin_decision_transformer(twin_preset, first_seed).items():
        planned += [("04_multi_game", f"{DT}, {dataset}, seed {c.seed}", c) for c in seeds]
    for name, (label, seeds) in twin_later_work(twin_preset, first_seed).items():
        planned += [("06_ablations", f"{name}: {label}, seed {c.seed}", c) for c in seeds]
    starts, online_runs = twin_online_pretraining_methods(twin_preset, first_seed)
    for i in range(len(twin_seeds(twin_preset, "08_online_finetuning"))):
        for method, seeds in starts.items():
            label = f"{method}, pre-trained, seed {seeds[i].seed}"
            planned.append(("08_online_finetuning", label, seeds[i]))
            planned += [
                (
                    "08_online_finetuning",
                    f"{method}, {game} m{c[i].online.mode}, seed {c[i].seed}",
                    c[i],
                )
                for (game, m), c in online_runs.items()
                if m == method
            ]
    pretrained, tuned = twin_pretraining_methods(twin_preset, first_seed)
    for i in range(len(twin_seeds(twin_preset, "07_offline_finetuning"))):
        for (game, method), seeds in tuned.items():
            for config in (pretrained[(game, method)][i], seeds[i]):
                mode = "fine-tuned on" if config.finetune.pretrained else "pre-trained without"
                label = f"{method}, {mode} {game}, seed {config.seed}"
                planned.append(("07_offline_finetuning", label, config))
    return planned


def book_runs(preset: str, seed: int = 0) -> list[tuple[str, str, Config]]:
    """(chapter, label, config) of every run the book's chapters load at `preset` (an ALE book
    preset or a twin one: `TWIN_PRESETS`), in the order the chapters run them; a config that
    several chapters share is listed once, first."""
    if preset in TWIN_PRESETS:
        return _once(twin_book_runs(preset, seed))
    if preset not in BOOK_PRESETS:
        raise ValueError(
            f"the chapters have no runs at preset {preset!r} yet; book presets: "
            + ", ".join([*BOOK_PRESETS, *TWIN_PRESETS])
        )
    base, variants = ablations(preset, seed)
    planned = [
        *(("04_multi_game", name, c) for name, c in multi_game(preset, seed).items()),
        *(("05_scaling", f"{p.family}, {p.label}", p.config) for p in scaling(preset, seed)),
        ("06_ablations", "Scaled QL", base),
        *(("06_ablations", f"{name}: {label}", c) for name, (label, c) in variants.items()),
    ]
    for chapter, build in (("07_offline_finetuning", offline_finetuning),
                           ("08_online_finetuning", online_finetuning)):  # fmt: skip
        source, runs = build(preset, seed)
        planned.append((chapter, "pre-trained Scaled QL", source))
        planned += [
            (chapter, f"{variant}, {game}", config)
            for variant, by_game in runs.items()
            for game, config in by_game.items()
        ]
    return _once(planned)


def _once(planned: list[tuple[str, str, Config]]) -> list[tuple[str, str, Config]]:
    """The planned runs without repeats: a config several chapters share, first only."""
    seen, runs = set(), []
    for chapter, label, config in planned:
        if (key := configs.config_hash(config)) not in seen:
            seen.add(key)
            runs.append((chapter, label, config))
    return runs
