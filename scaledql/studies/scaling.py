"""Chapter 5's study (Fig. 6): the network's size, for ResNets with C51 and with MSE and for
IMPALA networks with C51."""

from __future__ import annotations

import dataclasses
import fractions
from collections.abc import Iterable, Mapping

import pandas as pd

from scaledql import analysis, configs, networks, paper, scores
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

CHAPTER = "05_scaling"

# Fig. 6: ResNets improve with size (C51 and MSE alike); CQL with IMPALA networks does not.
SCALING_CLAIMS: dict[str, PaperClaim] = {
    "ResNet + C51": PaperClaim("Fig. 6", "above"),
    "ResNet + MSE": PaperClaim("Fig. 6", "above"),
    "IMPALA + C51": PaperClaim("Fig. 6 (IMPALA CQL of Lee et al. 2022)", "not above"),
}


@dataclasses.dataclass(frozen=True)
class SizePoint:
    """One run of the scaling sweep: its family, a label for its size, and its config."""

    family: str
    label: str
    config: Config


def scaling(
    preset: str, seed: int = 0, settings: Mapping[str, object] = NO_CHANGES
) -> list[SizePoint]:
    """The sizes of the paper's Fig. 6 at the preset's scale (`Scale.resnets`, `Scale.impala`):
    ResNet with C51, ResNet with MSE, IMPALA with C51."""
    base = sweep_config(preset, seed, settings)
    scale = SCALES[preset]
    points = []
    for loss in ("c51", "mse"):
        for encoder, width in scale.resnets:
            sized = {"network.encoder": encoder, "network.width": width, "loss.kind": loss}
            label = f"{encoder} {_width_label(width)}"
            points.append(
                SizePoint(f"ResNet + {loss.upper()}", label, configs.changed(base, sized))
            )
    for width in scale.impala:
        sized = {"network.encoder": "impala", "network.width": width, "loss.kind": "c51"}
        points.append(
            SizePoint("IMPALA + C51", f"impala {_width_label(width)}", configs.changed(base, sized))
        )
    return points


def _width_label(width: float) -> str:
    return f"x{fractions.Fraction(width).limit_denominator(64)}"


def paper_table1() -> tuple[pd.DataFrame, dict[str, int]]:
    """The paper's Table 1 (median over 40 games, ResNet-50 and -101, C51 and MSE) with each
    row's whole network's parameters in this package, and {encoder: its parameters}."""
    table1 = pd.DataFrame(paper.table("table1_loss_capacity"))
    paper_config = configs.preset("paper")
    table1["parameters"] = [
        networks.param_count(
            configs.override(paper_config, [f"network.encoder={e}", f"loss.kind={k}"])
        )
        for e, k in zip(table1.encoder, table1.loss, strict=True)
    ]
    encoder_size = {
        e: networks.param_breakdown(configs.changed(paper_config, {"network.encoder": e}))[
            "encoder"
        ]
        for e in table1.encoder.unique()
    }
    return table1, encoder_size


def ale_study(preset: str, seed: int = 0, settings: Mapping[str, object] = NO_CHANGES) -> Study:
    """The ALE sweep: `scaling`, one seed, key (family, size label)."""
    return Study(CHAPTER, "", preset, tuple(_runs(scaling(preset, seed, settings), "")))


def _runs(points: list[SizePoint], suffix: str) -> list[Run]:
    return [Run((p.family, p.label), f"{p.family}, {p.label}{suffix}", p.config) for p in points]


def twin_studies(
    twin_preset: str, first_seed: int = 0, settings: Mapping[str, object] = NO_CHANGES
) -> tuple[Study]:
    """The twin's sweep: `scaling` once for each of the chapter's training seeds, key (family,
    size label), the points in the same order for every seed."""
    return (
        Study(
            CHAPTER,
            "",
            twin_preset,
            tuple(
                run
                for s in twin_seeds(twin_preset, CHAPTER, first_seed)
                for run in _runs(scaling(twin_preset, s, settings), f", seed {s}")
            ),
        ),
    )


def by_family(
    study: Study, found: dict[tuple[str, str], list[dict]]
) -> dict[str, list[tuple[int, list[dict]]]]:
    """{family: [(encoder parameters, [record of each seed])]} of a twin sweep's records."""
    sizes: dict[str, list[tuple[int, list[dict]]]] = {}
    for (family, label), configs_ in study.seeds().items():
        params = networks.param_breakdown(configs_[0])["encoder"]
        sizes.setdefault(family, []).append((params, found[(family, label)]))
    return sizes


def compare(
    study: dict[str, list[tuple[int, list[dict]]]],
    references: dict[str, tuple[float, float]],
    seed: int = 0,
) -> dict[str, dict]:
    """{family: {"sizes": [(parameters, IQM (point, low, high))], "slope": (point, low, high),
    "runs": (fewest seeds at a size,), "verdict"}}: each family's twin-normalised IQM at each
    size over seeds x games, the slope of the IQM per tenfold parameters
    (`scores.iqm_slope`) and its direction (`analysis.slope_trend`). study: {family:
    [(encoder parameters, [record of each seed])]}."""
    out = {}
    for family, sizes in study.items():
        at_size = [analysis.reference_normalized(runs, references)[1] for _, runs in sizes]
        params = [n for n, _ in sizes]
        aggregates = scores.aggregate({i: x for i, x in enumerate(at_size)}, seed=seed)
        slope = scores.iqm_slope(params, at_size, seed=seed)
        fewest = min(len(x) for x in at_size)
        out[family] = {
            "sizes": [(n, aggregates[i]["IQM"]) for i, n in enumerate(params)],
            "slope": slope,
            "runs": (fewest,),
            "verdict": analysis.slope_trend(slope, fewest),
        }
    return out


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Chapter 5's records. ale: {(family, size label): record} of the ALE sweep, or None;
    points: its `SizePoint`s; twin: {family: [(encoder parameters, [record of each whole
    seed])]}; comparisons: `compare`'s result, None without a whole seed; studies: the
    twin's."""

    ale: dict[tuple[str, str], dict] | None
    points: list[SizePoint]
    twin: dict[str, list[tuple[int, list[dict]]]]
    comparisons: dict[str, dict] | None
    studies: tuple[Study, ...]
    found: dict[tuple[str, str], list[dict]]  # {(family, size label): [record of each seed]}

    @property
    def twin_records(self) -> list[dict]:
        return [r for runs in self.found.values() for r in runs]

    def twin_labelled(self) -> dict[str, list[dict]]:
        """{"family, size": [record of each seed]}, as captions list them."""
        return {f"{family}, {size}": runs for (family, size), runs in self.found.items()}


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
    ale = read_ale(ale_study(preset, seed, changes(settings)), train, fresh, since)
    (twin,) = twin_studies(SCALES[preset].twin, seed, changes(twin_settings))
    found = twin.load(trains_twin(twin.preset, train), fresh, since)
    sizes = by_family(twin, found)
    ready = bool(next(iter(sizes.values()))[0][1])
    references = twin_references(twin.runs[0].config) if ready else {}
    return Loaded(
        ale=ale,
        points=scaling(preset, seed, changes(settings)),
        twin=sizes,
        comparisons=compare(sizes, references, seed) if ready else None,
        studies=(twin,),
        found=found,
    )
