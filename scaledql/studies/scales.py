"""What the studies do at each preset, one entry a preset beside its config (`configs.PRESETS`):
the sweeps' budget and sizes, the held-out games and the fine-tuning budget, the online budget
and game variants, and for an ALE preset the twin the chapters read beside it, for a twin
preset the training seeds of each chapter.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

from scaledql import envs

NO_CHANGES: Mapping[str, object] = types.MappingProxyType({})

# The paper's new game variants of Fig. 8, (game, mode, difficulty), and the twin's: each game
# of `envs.minatar.VARIANTS` in its new mode (MinAtar has no difficulties).
ONLINE_VARIANTS: tuple[tuple[str, int, int], ...] = (("Freeway", 1, 0), ("Hero", 1, 0),
                                                     ("Breakout", 12, 0))  # fmt: skip
TWIN_ONLINE_VARIANTS: tuple[tuple[str, int, None], ...] = tuple(
    (game, mode, None) for game, modes in envs.minatar.VARIANTS.items() for mode in modes
)

# Training seeds (rliable's runs) of each chapter's twin runs: 5 where the paper's claims rest
# on differences between variants of one recipe (the multi-game comparison, the ablations),
# 3 elsewhere. At twin-smoke every chapter takes 2, enough to aggregate over seeds.
TWIN_SEEDS: Mapping[str, int] = types.MappingProxyType({
    "04_multi_game": 5, "05_scaling": 3, "06_ablations": 5,
    "07_offline_finetuning": 3, "08_online_finetuning": 3,
})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Scale:
    """What the studies do at one preset.

    sweep: the changes every sweep run (scaling, ablations) gets on top of the preset, to fit
    its time budget (a sweep has 9 to 12 runs where the multi-game chapter has 2).
    resnets: (encoder, width) of the scaling sweep's ResNet sizes; impala: its IMPALA widths.
    held_out: the ALE games fine-tuned on offline, none of them a pre-training game (the twin
    holds out each of its games in turn). finetune: the changes of an offline fine-tuning run.
    vit_width: the width of the MAE's vit encoder. online: the online fine-tuning budget;
    online_variants: the (game, mode, difficulty) played. twin: an ALE preset's twin, read
    beside it. seeds: a twin preset's training seeds, {chapter: how many}.
    """

    resnets: tuple[tuple[str, float], ...]
    impala: tuple[float, ...]
    finetune: Mapping[str, object]
    vit_width: float
    online: Mapping[str, object]
    online_variants: tuple[tuple[str, int, int | None], ...] = TWIN_ONLINE_VARIANTS
    sweep: Mapping[str, object] = dataclasses.field(default_factory=lambda: NO_CHANGES)
    held_out: tuple[str, ...] = ()
    twin: str = ""
    seeds: Mapping[str, int] = dataclasses.field(default_factory=lambda: NO_CHANGES)


def _changes(**values) -> Mapping[str, object]:
    """Changes by setting name, "section__field" for "section.field"."""
    return types.MappingProxyType({k.replace("__", "."): v for k, v in values.items()})


# The ALE presets' held-out games: the cpu and gpu presets pre-train on Pong and SpaceInvaders,
# so they hold out the other three of the paper's five.
_HELD_OUT = ("Alien", "MsPacman", "StarGunner")

# Sizes. The paper varies ResNet depth (34 to 152) at full width; on a CPU only narrow
# ResNet-18s fit, so there the size changes with width instead. IMPALA keeps the full 84x84
# resolution in its first stage, so it costs far more per parameter: with the cpu preset's
# batch, XLA counts 26.6 GFLOP a step at width 1 and 391 at width 4, against 10.3 for
# ResNet-18 x1/4; on a CPU its widths are therefore 1/8 to 1/2. The twin's sizes span over two
# orders of magnitude of encoder parameters; its heads and MLP do not grow with the encoder, and
# the ResNet + C51 point at the preset's own network is the multi-game chapter's Scaled QL run,
# shared.
#
# Fine-tuning. The paper fine-tunes on "1 % uniform" of a held-out game's DQN Replay run, 500k
# transitions, for steps it does not give: ours are assumptions. The cpu runs are 500 times
# shorter (100k steps), where 1 % is 1,000 transitions, a handful of episodes, so cpu takes
# 10 % (10k) for 3k steps (about 19 passes at batch 64). The twin takes the paper's 1 % (its
# 3,000-frame twin-smoke runs have too few rows for it).
#
# MAE. ViT-Base (85.8M parameters, the paper's "80M") at gpu and paper; elsewhere the
# narrowest ViT-Base, one 64-channel head a block (0.60M encoder parameters on the twin's
# grids).
#
# Online. The paper fine-tunes for 3M frames (750k agent steps), 6 % of its DQN's 50M; cpu
# plays 25k agent steps (100k frames) with a 10k replay (also its checkpoint interval) and the
# exploration schedule shrunk to fit (Dopamine's 20k warmup and 250k decay are for 50M). The
# twin's 6 % of its data runs' 5M frames would be 300k frames, which twin-gpu plays; on 2 CPU
# cores `twin` plays 50k (1 %), with Dopamine's MinAtar warmup of 1,000 frames and epsilon
# falling to 0.01 over the next 10,000.
_TWIN_CPU_ONLINE = _changes(
    online__agent_steps=50_000,
    online__warmup=1_000,
    online__epsilon_decay=10_000,
    online__replay_capacity=10_000,
)

SCALES: Mapping[str, Scale] = types.MappingProxyType({
    "smoke": Scale(
        resnets=(("resnet18", 1 / 32), ("resnet18", 1 / 16), ("resnet18", 1 / 8)),
        impala=(0.125, 0.25, 0.5),
        held_out=("Alien",),
        finetune=_changes(data__subset="uniform:50"),
        vit_width=1 / 12,
        online=_changes(online__agent_steps=300, online__warmup=50, online__epsilon_decay=100,
                        online__replay_capacity=100),
        online_variants=ONLINE_VARIANTS[-1:],  # Breakout mode 12 only
        twin="twin-smoke",
    ),
    "cpu": Scale(
        sweep=_changes(train__num_steps=10_000),
        resnets=(("resnet18", 1 / 16), ("resnet18", 1 / 8), ("resnet18", 1 / 4)),
        impala=(0.125, 0.25, 0.5),
        held_out=_HELD_OUT,
        finetune=_changes(data__subset="uniform:10", train__num_steps=3_000,
                          train__checkpoint_every=1_000),
        vit_width=1 / 12,
        online=_changes(online__agent_steps=25_000, online__warmup=2_000,
                        online__epsilon_decay=10_000, online__replay_capacity=10_000),
        online_variants=ONLINE_VARIANTS,
        # the study recorded at the twin's first budget (0.13 passes), until it is re-run at
        # `twin`'s
        twin="twin-short",
    ),
    "gpu": Scale(
        resnets=(("resnet18", 1.0), ("resnet34", 1.0), ("resnet50", 1.0)),
        impala=(1.0, 2.0, 4.0),
        held_out=_HELD_OUT,
        finetune=_changes(data__subset="uniform:1", train__num_steps=20_000),
        vit_width=1.0,
        online=_changes(online__agent_steps=250_000, online__replay_capacity=50_000),
        online_variants=ONLINE_VARIANTS,
        twin="twin-gpu",
    ),
    "paper": Scale(
        resnets=(("resnet34", 1.0), ("resnet50", 1.0), ("resnet101", 1.0), ("resnet152", 1.0)),
        impala=(1.0, 2.0, 4.0),
        held_out=envs.HELD_OUT_GAMES,
        finetune=_changes(data__subset="uniform:1", train__num_steps=100_000),
        vit_width=1.0,
        online=_changes(online__agent_steps=750_000),
        online_variants=ONLINE_VARIANTS,
        twin="twin-gpu",
    ),
    "twin-smoke": Scale(
        resnets=(("resnet18", 1 / 32), ("resnet18", 1 / 16)),
        impala=(0.125, 0.25),
        finetune=_changes(data__subset="uniform:50"),
        vit_width=1 / 12,
        online=_changes(online__agent_steps=2_000, online__warmup=200, online__epsilon_decay=500,
                        online__replay_capacity=1_000),
        online_variants=(("minatar/Breakout", 1, None),),
        seeds=types.MappingProxyType(dict.fromkeys(TWIN_SEEDS, 2)),
    ),
    # the shallow ResNets: 3.9k to 1.24M parameters in the encoder and embedding; fine-tuning
    # on 10k transitions of a 1M-frame run at the preset's passes
    "twin": Scale(
        resnets=(("resnet4", 1 / 16), ("resnet4", 1 / 8), ("resnet6", 1 / 4), ("resnet10", 1 / 2)),
        impala=(0.125, 0.5, 1.0, 2.0),
        finetune=_changes(data__subset="uniform:1"),
        vit_width=1 / 12,
        online=_TWIN_CPU_ONLINE,
        seeds=TWIN_SEEDS,
    ),
    # ResNet-18 x1/32 to ResNet-34 x1/4: 12.6k to 1.34M encoder parameters (IMPALA 1.9k to 393k)
    "twin-short": Scale(
        resnets=(("resnet18", 1 / 32), ("resnet18", 1 / 16), ("resnet18", 1 / 8),
                 ("resnet34", 1 / 4)),
        impala=(0.125, 0.5, 1.0, 2.0),
        finetune=_changes(data__subset="uniform:1", train__num_steps=3_000,
                          train__checkpoint_every=1_000),
        vit_width=1 / 12,
        online=_TWIN_CPU_ONLINE,
        seeds=TWIN_SEEDS,
    ),
    "twin-gpu": Scale(
        resnets=(("resnet18", 1 / 8), ("resnet18", 1 / 2), ("resnet34", 1.0), ("resnet101", 1.0)),
        impala=(0.25, 1.0, 2.0, 4.0),
        finetune=_changes(data__subset="uniform:1", train__num_steps=20_000),
        vit_width=1 / 2,
        online=_changes(online__agent_steps=300_000, online__warmup=1_000,
                        online__epsilon_decay=50_000, online__replay_capacity=100_000),
        seeds=TWIN_SEEDS,
    ),
})  # fmt: skip

BOOK_PRESETS: tuple[str, ...] = tuple(name for name, s in SCALES.items() if s.twin)
TWIN_PRESETS: tuple[str, ...] = tuple(name for name, s in SCALES.items() if s.seeds)
TWIN_OF: Mapping[str, str] = types.MappingProxyType({p: SCALES[p].twin for p in BOOK_PRESETS})
