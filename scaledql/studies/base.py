"""What every chapter's study shares: the paper's claim for a comparison, a chapter's base
config at a preset (with a reader's changes), the sweeps' budget, and the MinAtar twin's presets
and seeds. The chapters' own runs are declared in their modules beside this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np

from scaledql import analysis, configs, data, pipeline, records, report
from scaledql.configs import Config
from scaledql.studies.scales import NO_CHANGES, SCALES


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


# A chapter's named knobs and the setting each one sets (see `changes`).
KNOBS = {
    "games": "games",
    "encoder": "network.encoder",
    "width": "network.width",
    "loss": "loss.kind",
    "cql_alpha": "loss.cql_alpha",
    "num_steps": "train.num_steps",
}


def changes(settings: Iterable[str] | Mapping[str, object] = (), **knobs) -> dict[str, object]:
    """A reader's changes by setting name: the knobs a chapter's parameters cell names, those
    left empty (None, "" or []) skipped, then its `key=value` settings, which win:
    `changes(["train.num_steps=500"], games=["Pong"], cql_alpha=0.5)` -> `{"games": ("Pong",),
    "loss.cql_alpha": 0.5, "train.num_steps": "500"}` (`configs.changed` types the text)."""
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise ValueError(f"unknown knobs {unknown}; the chapters' knobs are: {', '.join(KNOBS)}")
    chosen: dict[str, object] = {
        KNOBS[name]: tuple(value) if isinstance(value, list) else value
        for name, value in knobs.items()
        if not (value is None or value == "" or (isinstance(value, list | tuple) and not value))
    }
    parsed = settings if isinstance(settings, Mapping) else configs.parse_settings(settings)
    return {**chosen, **parsed}


def as_text(values: Mapping[str, object]) -> list[str]:
    """`key=value` settings of changes by setting name, as the command line writes them."""
    return [
        f"{key}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for key, v in values.items()
    ]


def chapter_config(
    preset: str, seed: int = 0, settings: Mapping[str, object] = NO_CHANGES
) -> Config:
    """The preset, with the chapter's seed and a reader's changes (`changes`)."""
    return configs.changed(dataclasses.replace(configs.preset(preset), seed=seed), settings)


def sweep_config(preset: str, seed: int = 0, settings: Mapping = NO_CHANGES) -> Config:
    """The base of a sweep: the preset, its scale's `sweep` changes, then the reader's."""
    return chapter_config(preset, seed, {**SCALES[preset].sweep, **settings})


def twin_seeds(twin_preset: str, chapter: str, first: int = 0) -> list[int]:
    """The training seeds of a chapter's twin runs at `twin_preset`, from `first`."""
    seeds = SCALES[twin_preset].seeds
    if chapter not in seeds:
        raise ValueError(f"no twin runs for chapter {chapter!r}; chapters: {', '.join(seeds)}")
    return list(range(first, first + seeds[chapter]))


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a study. key: the comparison's entry it belongs to, e.g. ("initial 20 %
    (sub-optimal)", "Scaled QL"), the same for each of its seeds; label: what `scaledql runs`
    calls it; compared: False for a run that others start from (a pre-training) and that the
    comparison itself does not read."""

    key: tuple[str, ...]
    label: str
    config: Config
    compared: bool = True

    @property
    def seed(self) -> int:
        return self.config.seed


@dataclasses.dataclass(frozen=True)
class Study:
    """The runs one comparison reads together, seed by seed, in the order they are trained
    (a pre-training before the runs that start from it). A study stopped part way is read as
    the seeds it finished under every key (`records.whole_seeds`).

    chapter: the chapter's page name; name: what its status line calls it; preset: the preset
    its runs are recorded under; of_methods: a comparison method's study (the Decision
    Transformer, other pre-training), trained after the studies of the paper's claims."""

    chapter: str
    name: str
    preset: str
    runs: tuple[Run, ...]
    of_methods: bool = False

    def seeds(self, everything: bool = False) -> dict[tuple[str, ...], list[Config]]:
        """{key: [config of each seed]} of the compared runs (`everything`: the pre-trainings
        too, each under its own key)."""
        out: dict[tuple[str, ...], list[Config]] = {}
        for run in self.runs:
            if run.compared or everything:
                out.setdefault(run.key, []).append(run.config)
        return out

    def load(
        self, train: bool, fresh: bool = False, since: str | None = None
    ) -> dict[tuple[str, ...], list[dict]]:
        """{key: [record of each whole seed]}. train: make every missing record first, the
        pre-trainings before the runs that start from them; otherwise read what is recorded."""
        if train:
            for run in self.runs:
                if not run.compared:
                    pipeline.run_or_load(run.config, fresh, since)
        return pipeline.seed_records(self.seeds(), train, fresh, since)

    def status(self) -> str:
        """How many of its runs are recorded and seeds whole, and the command for the rest."""
        return report.study_status(self.seeds(everything=True), self.preset)

    def status_line(self) -> str:
        """`status`, after the study's name where it has one."""
        return f"{self.name}: {self.status()}" if self.name else self.status()


def read_ale(
    study: Study, train: bool | None, fresh: bool = False, since: str | None = None
) -> dict[tuple[str, ...], dict] | None:
    """{key: record} of a one-seed (ALE) study: trained where missing unless `train` is False,
    in which case None when any run has no record."""
    found = study.load(train is not False, fresh, since)
    if not all(found.values()):
        return None
    return {key: runs[0] for key, runs in found.items()}


def twin_references(config: Config) -> dict[str, tuple[float, float]]:
    """{game: (random, final DQN)}: the mean evaluation returns of random play and of the final
    online DQN in the collection summary of each game's first data run, the twin's 0 and 1."""
    recipe = data.recipe(config)
    references = {}
    for game in config.games:
        summary = records.load_collection(recipe, game, config.data.runs[0])
        if summary is None:
            raise FileNotFoundError(
                f"no collection summary for {game} run {config.data.runs[0]} of recipe {recipe} "
                f"({records.collection_path(recipe, game, config.data.runs[0])}); collect it "
                f"with `{configs.command(config)}`, which collects missing data first"
            )
        references[game] = (
            float(np.mean(summary["random_returns"])),
            float(np.mean(summary["final_returns"])),
        )
    return references


def behaviour(record: dict) -> dict[str, float]:
    """{game: the mean return of the episodes in the record's data}."""
    return record["data"]["behaviour_mean_return"]


def behaviour_scores(record: dict, references: dict[str, tuple[float, float]]) -> np.ndarray:
    """(1, games): the behaviour data's mean return per game, normalised as the runs are."""
    played = {"scores": {g: {"mean_return": r} for g, r in behaviour(record).items()}}
    return analysis.reference_normalized([played], references)[1]


def trains_twin(twin_preset: str, train: bool | None = None) -> bool:
    """Whether a chapter trains its missing twin runs: as `train` says, and by default only at
    twin-smoke. At the other twin presets a study takes hours, so `scaledql runs --preset P
    --train` makes it and the chapters read the whole seeds it has recorded."""
    return twin_preset == "twin-smoke" if train is None else train
