"""Chapter 6's study (Tables 1-2, App. B.3-B.4): Scaled QL against one-setting variants of
it; a new ablation is one `ABLATIONS` entry plus its record."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from scaledql import analysis, configs, paper
from scaledql.configs import Config
from scaledql.studies.base import (
    PaperClaim,
    Run,
    Study,
    changes,
    read_ale,
    sweep_config,
    trains_twin,
    twin_references,
    twin_seeds,
)
from scaledql.studies.scales import NO_CHANGES, SCALES

CHAPTER = "06_ablations"
BASE = "Scaled QL"


@dataclasses.dataclass(frozen=True)
class Ablation:
    """One ablation of Tables 1-2 and App. B.3-B.4: the variant's label, the changes that make
    it from Scaled QL (by setting name), and the paper's claim for Scaled QL against it."""

    label: str
    changes: Mapping[str, object]
    paper: PaperClaim


def _table_medians(table: str, baseline: dict, run: dict, source: str) -> PaperClaim:
    """The paper's claim that Scaled QL (`baseline`'s row of `table`) lies above `run`'s row."""
    return PaperClaim(
        source, "above", paper.reported(table, **baseline), paper.reported(table, **run)
    )


ABLATIONS: dict[str, Ablation] = {
    "TD loss": Ablation(
        "MSE",
        {"loss.kind": "mse"},
        _table_medians(
            "table1_loss_capacity",
            {"encoder": "resnet101", "loss": "c51"},
            {"encoder": "resnet101", "loss": "mse"},
            "Table 1, ResNet-101, 40 games",
        ),
    ),
    "feature normalisation": Ablation(
        "without",
        {"network.feature_norm": False},
        _table_medians(
            "table2_feature_norm",
            {"encoder": "resnet34", "feature_norm": "true"},
            {"encoder": "resnet34", "feature_norm": "false"},
            "Table 2, ResNet-34, 5 games",
        ),
    ),
    "readout": Ablation(
        "mean pooling",
        {"network.readout": "pool"},
        PaperClaim("Appendix B.3: spatial embedding better; no number in the main text", "above"),
    ),
    "conservatism": Ablation(
        "CQL alpha 0",
        {"loss.cql_alpha": 0.0},
        PaperClaim("Appendix B.4: pessimism crucial; no number in the main text", "above"),
    ),
}

# Beyond the paper: later work that kept the paper's setting, each a one-setting variant of
# Scaled QL studied as the ablations are, but as a study of its own, so that the ablations'
# seeds stay whole without it. Its claim is the later paper's, for Scaled QL against it.
LATER_WORK: dict[str, Ablation] = {
    "TD loss, later work": Ablation(
        "HL-Gauss",
        {"loss.kind": "hl_gauss"},
        PaperClaim(
            "Farebrother et al. (2024), multi-game offline Atari: HL-Gauss ahead of C51 and "
            "MSE; no number taken here",
            "below",
        ),
    ),
}


def variants() -> dict[str, Ablation]:
    """Every variant by its name, the paper's ablations first."""
    return {**ABLATIONS, **LATER_WORK}


def ablations(
    preset: str,
    seed: int = 0,
    settings: Mapping[str, object] = NO_CHANGES,
    of: Iterable[str] = ABLATIONS,
) -> tuple[Config, dict[str, Config]]:
    """Scaled QL and {name: its variant} for each of `of` (names of `variants()`)."""
    base = sweep_config(preset, seed, settings)
    return base, {name: configs.changed(base, variants()[name].changes) for name in of}


def _runs(
    preset: str, seed: int, settings: Mapping[str, object], of, suffix: str = ""
) -> list[Run]:
    base, changed = ablations(preset, seed, settings, of)
    return [
        *([Run((BASE,), f"{BASE}{suffix}", base)] if of is ABLATIONS else []),
        *(
            Run((name,), f"{name}: {variants()[name].label}{suffix}", config)
            for name, config in changed.items()
        ),
    ]


def ale_study(preset: str, seed: int = 0, settings: Mapping[str, object] = NO_CHANGES) -> Study:
    """The ALE runs: Scaled QL, key ("Scaled QL",), and each ablation, key (name,); one seed."""
    return Study(CHAPTER, "", preset, tuple(_runs(preset, seed, settings, ABLATIONS)))


def twin_studies(
    twin_preset: str, first_seed: int = 0, settings: Mapping[str, object] = NO_CHANGES
) -> tuple[Study, Study]:
    """The twin's: Scaled QL and the paper's ablations for each training seed, and the later
    work's variants as a study of their own, compared with the same Scaled QL seeds."""
    seeds = twin_seeds(twin_preset, CHAPTER, first_seed)
    return tuple(
        Study(
            CHAPTER,
            name,
            twin_preset,
            tuple(r for s in seeds for r in _runs(twin_preset, s, settings, of, f", seed {s}")),
            of_methods=of is LATER_WORK,
        )
        for name, of in (("The paper's ablations", ABLATIONS), ("Later work", LATER_WORK))
    )


def compare(
    base: list[dict],
    variants: dict[str, list[dict]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
) -> dict[str, dict]:
    """{ablation: `analysis.seed_comparison` of Scaled QL's seeds against the variant's}."""
    _, x = analysis.reference_normalized(base, references)
    return {
        name: analysis.seed_comparison(x, analysis.reference_normalized(runs, references)[1], seed)
        for name, runs in variants.items()
    }


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Chapter 6's records. ale: (the Scaled QL record, {ablation: variant record}), or None;
    twin_base: Scaled QL's record of each whole seed; twin: {variant: [record of each whole
    seed]}, the later work's among them once they have a whole seed; references, studies and
    config (the first twin Scaled QL run's) as in `multi_game.Loaded`; comparisons:
    `compare`'s result."""

    ale: tuple[dict, dict[str, dict]] | None
    twin_base: list[dict]
    twin: dict[str, list[dict]]
    references: dict[str, tuple[float, float]]
    comparisons: dict[str, dict] | None
    studies: tuple[Study, ...]
    config: Config


def load(
    preset: str,
    seed: int = 0,
    train: bool | None = None,
    fresh: bool = False,
    since: str | None = None,
    settings: Iterable[str] | Mapping[str, object] = (),
    twin_settings: Iterable[str] | Mapping[str, object] = (),
) -> Loaded:
    """The chapter's records at `preset` and its twin; train, settings and twin_settings as
    `multi_game.load` takes them."""
    found = read_ale(ale_study(preset, seed, changes(settings)), train, fresh, since)
    ale = None
    if found is not None:
        named = {key[0]: record for key, record in found.items()}
        ale = (named.pop(BASE), named)
    paper_study, later = twin_studies(SCALES[preset].twin, seed, changes(twin_settings))
    trains = trains_twin(paper_study.preset, train)
    twin = {key[0]: runs for key, runs in paper_study.load(trains, fresh, since).items()}
    base = twin.pop(BASE)
    twin |= {key[0]: runs for key, runs in later.load(trains, fresh, since).items() if runs}
    config = paper_study.runs[0].config
    references = twin_references(config) if base else {}
    return Loaded(
        ale=ale,
        twin_base=base,
        twin=twin,
        references=references,
        comparisons=compare(base, twin, references, seed) if base else None,
        studies=(paper_study, later),
        config=config,
    )
