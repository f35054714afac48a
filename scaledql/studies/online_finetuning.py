"""Chapter 8's study (Fig. 8): the pre-trained Scaled QL network fine-tuned online on new
variants of games, against the same network learning them from scratch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scaledql import configs
from scaledql.configs import Config
from scaledql.studies.base import (
    PaperClaim,
    Run,
    Study,
    changes,
    chapter_config,
    read_ale,
    trains_twin,
    twin_seeds,
)
from scaledql.studies.offline_finetuning import (
    PRETRAINED,
    SCRATCH,
    Loaded,
    pretraining_method,
    read_transfer,
    scratch_references,
)
from scaledql.studies.scales import NO_CHANGES, SCALES

CHAPTER = "08_online_finetuning"

ONLINE_PRETRAINED = "Scaled QL (pre-trained)"  # the online variant from the pre-trained encoder
# Fig. 8: pre-trained Scaled QL above scratch in every new mode after 3M frames (bars only),
# and above the frozen MAE encoder under the same online Q-learning.
ONLINE_FINETUNE_CLAIM = PaperClaim("Fig. 8 (bars only)", "above")
ONLINE_PRETRAINING_METHODS: tuple[str, ...] = ("MAE",)


def variant_label(game: str, mode: int, difficulty: int | None) -> str:
    """A game variant's name: `Breakout m12d0` in ALE, `minatar/Breakout m1` on the twin."""
    return f"{game} m{mode}" + ("" if difficulty is None else f"d{difficulty}")


def online_finetuning(
    preset: str,
    seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
) -> tuple[Config, dict[str, dict[str, Config]]]:
    """The pre-trained run, and for pre-trained and scratch one online run per game variant
    of Fig. 8 (the preset's `Scale.online_variants`, at its `Scale.online` budget), keyed by
    `variant_label`. settings and tuning as in `offline_finetuning`."""
    scale = SCALES[preset]
    source = chapter_config(preset, seed, settings)
    runs: dict[str, dict[str, Config]] = {}
    for variant, start in (
        (ONLINE_PRETRAINED, {"finetune.pretrained": configs.config_hash(source)}),
        ("Scaled QL (scratch)", {}),
    ):
        runs[variant] = {
            variant_label(game, mode, difficulty): configs.changed(
                source,
                {
                    "games": (game,),
                    **scale.online,
                    "online.mode": mode,
                    "online.difficulty": difficulty,
                    **tuning,
                    **start,
                },
            )
            for game, mode, difficulty in scale.online_variants
        }
    return source, runs


def ale_study(
    preset: str,
    seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
) -> Study:
    """The ALE runs, one seed: the pre-trained run, key ("pre-trained",), then each agent's
    run in each game variant, key (agent, `variant_label`)."""
    source, runs = online_finetuning(preset, seed, settings, tuning)
    return Study(
        CHAPTER,
        "",
        preset,
        (
            Run((PRETRAINED,), "pre-trained Scaled QL", source),
            *(
                Run((agent, name), f"{agent}, {name}", config)
                for agent, by_variant in runs.items()
                for name, config in by_variant.items()
            ),
        ),
    )


def twin_studies(
    twin_preset: str,
    first_seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
) -> tuple[Study, ...]:
    """Fig. 8 on the twin, for each training seed: the pre-trained run (the multi-game
    chapter's Scaled QL on the initial 20 %, every game in its default variant), key
    ("pre-trained",), and the pre-trained and scratch agents' online runs in each game's new
    variant (`ONLINE_PRESET_VARIANTS`), key (game, agent). Then one study for each of
    `ONLINE_PRETRAINING_METHODS`: pre-trained as that seed's Scaled QL run, key
    ("pre-training", method), and playing as its pre-trained agents do, key (game, method).
    settings and tuning as in `offline_finetuning`."""
    seeds = twin_seeds(twin_preset, CHAPTER, first_seed)
    plan = [(s, *online_finetuning(twin_preset, s, settings, tuning)) for s in seeds]
    claims = []
    for s, source, runs in plan:
        claims.append(Run((PRETRAINED,), f"pre-trained Scaled QL, seed {s}", source, False))
        claims += [
            Run((c.games[0], agent), f"{agent}, {c.games[0]} m{c.online.mode}, seed {s}", c)
            for agent, by_variant in runs.items()
            for c in by_variant.values()
        ]
    studies = [Study(CHAPTER, "Scaled QL", twin_preset, tuple(claims))]
    for method in ONLINE_PRETRAINING_METHODS:
        runs_ = []
        for s, source, runs in plan:
            played = list(runs[ONLINE_PRETRAINED].values())
            pairs = [pretraining_method(source, c, method) for c in played]
            start = pairs[0][0]  # the same for every game: only the online settings differ
            runs_.append(Run(("pre-training", method), f"{method}, pre-trained, seed {s}", start,
                             False))  # fmt: skip
            runs_ += [
                Run((c.games[0], method), f"{method}, {c.games[0]} m{c.online.mode}, seed {s}", run)
                for c, (_, run) in zip(played, pairs, strict=True)
            ]
        studies.append(Study(CHAPTER, method, twin_preset, tuple(runs_), of_methods=True))
    return tuple(studies)


def load(
    preset: str,
    seed: int = 0,
    train: bool | None = None,
    fresh: bool = False,
    since: str | None = None,
    settings: Iterable[str] | Mapping[str, object] = (),
    tuning: Iterable[str] | Mapping[str, object] = (),
    twin_tuning: Iterable[str] | Mapping[str, object] = (),
) -> Loaded:
    """The chapter's records at `preset` and its twin. settings change the pre-trained runs
    (the twin's too), tuning the ALE online runs only, twin_tuning the twin's; train as
    `multi_game.load` takes it."""
    ale = ale_study(preset, seed, changes(settings), changes(tuning))
    found = read_ale(ale, train, fresh, since)
    studies = twin_studies(SCALES[preset].twin, seed, changes(settings), changes(twin_tuning))
    trains = trains_twin(studies[0].preset, train)
    twin = read_transfer(
        studies, trains, fresh, since, seed, ONLINE_PRETRAINED, (SCRATCH,), scratch_references
    )
    return Loaded(ale=found, twin=twin)
