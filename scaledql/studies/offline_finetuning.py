"""Chapter 7's study (Fig. 7): an encoder pre-trained by Scaled QL, fine-tuned offline on
games held out of its pre-training, against the same network frozen and trained from scratch,
and against other pre-training methods."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np

from scaledql import analysis, configs, paper
from scaledql.configs import Config
from scaledql.studies.base import (
    PaperClaim,
    Run,
    Study,
    changes,
    chapter_config,
    read_ale,
    trains_twin,
    twin_references,
    twin_seeds,
)
from scaledql.studies.scales import NO_CHANGES, SCALES

CHAPTER = "07_offline_finetuning"
PRETRAINED = "pre-trained"  # the key of the run fine-tuning starts from

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
# Fig. 7's variants: {variant: the changes that make it from the pre-trained run, or None for
# the same network trained from scratch}
FINE_TUNED = "Scaled QL (fine-tuned)"
OFFLINE_VARIANTS: dict[str, Mapping[str, object] | None] = {
    FINE_TUNED: {},
    "Scaled QL (frozen)": {"finetune.encoder": "frozen"},
    "Scaled QL (scratch)": None,
}

# Fig. 7's other pre-training methods, each pre-trained on the same games, data and budget as
# the Scaled QL run it stands beside, then fine-tuned on the held-out game's subset as Scaled
# QL is: {row: (pre-training changes, fine-tuning changes)}. BC and DT fine-tune with their
# own objective (Lee et al.'s protocol). MAE pre-trains a vit encoder (at the preset's
# `Scale.vit_width`) by reconstruction, then the paper freezes it under Scaled QL's CQL + C51
# Q-network; its tokens are mean-pooled (a learned spatial readout behind a frozen encoder
# would train as part of the encoder, which `finetune.encoder=frozen` keeps still).
PRETRAINING_METHODS: dict[str, tuple[Mapping[str, object], Mapping[str, object]]] = {
    "MAE": (
        {"loss.kind": "mae", "network.encoder": "vit"},
        {"loss.kind": "c51", "network.readout": "pool", "finetune.encoder": "frozen"},
    ),
    "BC (pre-trained)": ({"loss.kind": "bc"}, {}),
    "DT (pre-trained)": ({"loss.kind": "dt"}, {}),
}


def pretraining_method(source: Config, tuned: Config, method: str) -> tuple[Config, Config]:
    """(the method's pre-training run, its fine-tuning run): `source` (a Scaled QL run to
    pre-train as) and `tuned` (a run that fine-tunes from it) changed to `method` of
    `PRETRAINING_METHODS`; the fine-tuning run starts from the method's own pre-training."""
    pretraining, finetuning = PRETRAINING_METHODS[method]
    changes = dict(pretraining)
    if changes.get("network.encoder") == "vit":
        changes["network.width"] = SCALES[source.name].vit_width
    pretrained = configs.changed(source, changes)
    started = {"finetune.pretrained": configs.config_hash(pretrained)}
    return pretrained, configs.changed(tuned, {**changes, **finetuning, **started})


def _finetuning_source(
    preset: str, seed: int, settings: Mapping[str, object], games: tuple[str, ...]
) -> Config:
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
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
    held_out: tuple[str, ...] | None = None,
) -> tuple[Config, dict[str, dict[str, Config]]]:
    """The pre-trained run, and for each variant of Fig. 7 one run per held-out game.

    settings change the pre-trained run (and so every fine-tuning run's network); tuning
    changes only the fine-tuning runs, after the preset's `Scale.finetune`. held_out: the
    games to fine-tune on; None for the preset's `Scale.held_out`."""
    scale = SCALES[preset]
    games = scale.held_out if held_out is None else held_out
    source = _finetuning_source(preset, seed, settings, games)
    base = configs.changed(source, {**scale.finetune, **tuning})
    started = {"finetune.pretrained": configs.config_hash(source)}
    return source, {
        variant: {
            game: configs.changed(
                base, {"games": (game,), **({} if start is None else {**started, **start})}
            )
            for game in games
        }
        for variant, start in OFFLINE_VARIANTS.items()
    }


# the variants by name, in `OFFLINE_VARIANTS` order
_, FROZEN, SCRATCH = OFFLINE_VARIANTS


def ale_study(
    preset: str,
    seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
) -> Study:
    """The ALE runs, one seed: the pre-trained run, key ("pre-trained",), then each variant's
    run on each held-out game, key (variant, game)."""
    source, runs = offline_finetuning(preset, seed, settings, tuning)
    return Study(
        CHAPTER,
        "",
        preset,
        (
            Run((PRETRAINED,), "pre-trained Scaled QL", source),
            *(
                Run((variant, game), f"{variant}, {game}", config)
                for variant, by_game in runs.items()
                for game, config in by_game.items()
            ),
        ),
    )


def _leave_one_out(twin_preset: str, seed: int, settings: Mapping, tuning: Mapping, game: str):
    """(the run pre-trained on every game but `game`, {variant: its run on `game`})."""
    games = configs.preset(twin_preset).games
    others = {**settings, "games": tuple(g for g in games if g != game)}
    source, runs = offline_finetuning(twin_preset, seed, others, tuning, (game,))
    return source, {variant: by_game[game] for variant, by_game in runs.items()}


def twin_studies(
    twin_preset: str,
    first_seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    tuning: Mapping[str, object] = NO_CHANGES,
) -> tuple[Study, ...]:
    """Fig. 7 leave-one-out on the twin, every game held out in turn: for each training seed
    and held-out game, the run pre-trained on the other games, key (game, "pre-trained"), and
    each variant's fine-tuning run, key (game, variant). Then one study for each of
    `PRETRAINING_METHODS`: the method pre-trained as that seed's Scaled QL run, key (game,
    "pre-training"), and fine-tuned from it (`pretraining_method`), key (game, method).
    settings and tuning as in `offline_finetuning`."""
    seeds = twin_seeds(twin_preset, CHAPTER, first_seed)
    games = configs.preset(twin_preset).games
    plan = [
        (s, game, *_leave_one_out(twin_preset, s, settings, tuning, game))
        for s in seeds
        for game in games
    ]
    claims = []
    for s, game, source, variants in plan:
        claims.append(
            Run((game, PRETRAINED), f"pre-trained without {game}, seed {s}", source, False)
        )
        claims += [
            Run((game, variant), f"{variant}, {game}, seed {s}", config)
            for variant, config in variants.items()
        ]
    studies = [Study(CHAPTER, "Scaled QL", twin_preset, tuple(claims))]
    for method in PRETRAINING_METHODS:
        runs = []
        for s, game, source, variants in plan:
            start, tuned = pretraining_method(source, variants[FINE_TUNED], method)
            runs += [
                Run((game, "pre-training"), f"{method}, pre-trained without {game}, seed {s}",
                    start, False),
                Run((game, method), f"{method}, fine-tuned on {game}, seed {s}", tuned),
            ]  # fmt: skip
        studies.append(Study(CHAPTER, method, twin_preset, tuple(runs), of_methods=True))
    return tuple(studies)


def compare(
    study: dict[str, dict[str, list[dict]]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
    tuned: str = FINE_TUNED,
    versus: tuple[str, ...] = (SCRATCH, FROZEN),
) -> dict[str, dict]:
    """{other: `analysis.seed_comparison` of the `tuned` variant's seeds against those of
    each of `versus`}, each game a column of the score matrices: the held-out games of the
    offline chapter (fine-tuned against scratch and frozen), or the new variants of the
    online chapter (pre-trained against scratch).
    study: {game: {variant: [record of each seed, in the same seed order]}}."""
    games = list(study)

    def scores_of(variant: str) -> np.ndarray:  # (seeds, games)
        columns = [
            analysis.reference_normalized(study[g][variant], {g: references[g]})[1][:, 0]
            for g in games
        ]
        return np.stack(columns, axis=1)

    x = scores_of(tuned)
    return {v: analysis.seed_comparison(x, scores_of(v), seed) for v in versus}


@dataclasses.dataclass(frozen=True)
class Transfer:
    """A fine-tuning chapter's twin records. study: {game: {variant: [record of each whole
    seed]}}, each other pre-training method among the variants once it has a whole seed in
    every game; methods: those methods; records: every record the comparisons read;
    references: each game's (random, final DQN) returns; comparisons: `compare`'s result,
    None without a whole seed of Scaled QL; studies: as `Study.status_line` reports them."""

    study: dict[str, dict[str, list[dict]]]
    methods: tuple[str, ...]
    records: list[dict]
    references: dict[str, tuple[float, float]]
    comparisons: dict[str, dict] | None
    studies: tuple[Study, ...]

    def labelled(self, name) -> dict[str, list[dict]]:
        """{caption label: records} of each variant in each game with a record, the label
        `name(game, variant)`."""
        return {
            name(game, variant): runs
            for game, variants in self.study.items()
            for variant, runs in variants.items()
            if runs
        }


def assemble(
    found: dict[tuple[str, str], list[dict]], by_method: dict[str, dict[tuple[str, str], list]]
) -> tuple[dict[str, dict[str, list[dict]]], tuple[str, ...], list[dict]]:
    """(study, methods, records) of a fine-tuning chapter's twin records: found, {(game,
    variant): [record of each whole seed]} of the Scaled QL study; by_method, {method: {(game,
    method): [record of each whole seed]}} of each method's own study. study: {game: {variant
    or method: records}}, a method joining once it has a whole seed (in every game, as whole
    seeds are); methods: those that joined; records: every record the comparisons read."""
    study: dict[str, dict[str, list[dict]]] = {}
    for (game, variant), runs in found.items():
        study.setdefault(game, {})[variant] = runs
    records = [r for runs in found.values() for r in runs]
    methods = []
    for method, by_game in by_method.items():
        if all(by_game.values()):
            methods.append(method)
            for (game, _), runs in by_game.items():
                study[game][method] = runs
                records += runs
    return study, tuple(methods), records


def read_transfer(
    studies: tuple[Study, ...],
    train: bool,
    fresh: bool,
    since: str | None,
    seed: int,
    tuned: str,
    versus: tuple[str, ...],
    references,
) -> Transfer:
    """The `Transfer` of a fine-tuning chapter's twin studies: the first compares `tuned` with
    `versus`, each of the others adds one pre-training method (`assemble`); references(study):
    the games' (random, final DQN) returns, read once there are records."""
    found = studies[0].load(train, fresh, since)
    by_method = {s.name: s.load(train, fresh, since) for s in studies[1:]}
    study, methods, records = assemble(found, by_method)
    ready = bool(found[next(iter(found))])
    refs = references(studies[0]) if ready else {}
    return Transfer(
        study=study,
        methods=methods,
        records=records,
        references=refs,
        comparisons=compare(study, refs, seed, tuned, (*versus, *methods)) if ready else None,
        studies=studies,
    )


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A fine-tuning chapter's records. ale: {(variant, game) or ("pre-trained",): record} of
    the ALE runs, or None; twin: the twin's `Transfer`."""

    ale: dict[tuple[str, ...], dict] | None
    twin: Transfer

    def ale_by_variant(self) -> dict[str, dict[str, dict]]:
        """{variant: {game or game variant: record}} of the ALE fine-tuning runs."""
        out: dict[str, dict[str, dict]] = {}
        for key, record in self.ale.items():
            if key != (PRETRAINED,):
                out.setdefault(key[0], {})[key[1]] = record
        return out


def scratch_references(study: Study) -> dict[str, tuple[float, float]]:
    """`twin_references` of each game a fine-tuning study plays, from its scratch run (which
    plays only that game, in the data's default variant: for the online chapter's new
    variants these fix each game's scale, not the variant's random or DQN play)."""
    return {
        game: twin_references(configs_[0])[game]
        for (game, variant), configs_ in study.seeds().items()
        if variant == SCRATCH
    }


def load(
    preset: str,
    seed: int = 0,
    train: bool | None = None,
    fresh: bool = False,
    since: str | None = None,
    settings: Iterable[str] | Mapping[str, object] = (),
    tuning: Iterable[str] | Mapping[str, object] = (),
    twin_settings: Iterable[str] | Mapping[str, object] = (),
) -> Loaded:
    """The chapter's records at `preset` and its twin. settings change the pre-trained runs,
    tuning the ALE fine-tuning runs only, twin_settings the twin's pre-trained runs; train as
    `multi_game.load` takes it."""
    ale = ale_study(preset, seed, changes(settings), changes(tuning))
    found = read_ale(ale, train, fresh, since)
    studies = twin_studies(SCALES[preset].twin, seed, changes(twin_settings))
    trains = trains_twin(studies[0].preset, train)
    twin = read_transfer(
        studies, trains, fresh, since, seed, FINE_TUNED, (SCRATCH, FROZEN), scratch_references
    )
    return Loaded(ale=found, twin=twin)
