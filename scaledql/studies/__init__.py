"""Each chapter's study, declared once: the runs it compares at every preset (ALE and the
MinAtar twin) with their seeds, the paper's claim for each comparison, and the `load` that
returns the records the chapter, the intro's glance table and `scaledql runs` all read.

One module per chapter: `multi_game` (4), `scaling` (5), `ablations` (6),
`offline_finetuning` (7), `online_finetuning` (8). Each declares its runs as `Study` values
(typed `Run` entries: a key, a label, a config and so a seed) with `ale_study` and
`twin_studies`, and reads them with `load(preset, seed, train=...)`; `base` holds what they
share. A chapter calls its study and nothing else to get its runs; `book_runs` walks them all.
"""

from __future__ import annotations

from scaledql import configs
from scaledql.configs import Config
from scaledql.studies import (
    ablations,
    base,
    multi_game,
    offline_finetuning,
    online_finetuning,
    scales,
    scaling,
)

CHAPTERS = (multi_game, scaling, ablations, offline_finetuning, online_finetuning)


def studies_at(preset: str, seed: int = 0) -> list[base.Study]:
    """Every study the chapters read at `preset` (an ALE book preset or a twin one), chapter
    by chapter; at a twin preset the comparison methods' studies after those of the paper's
    claims."""
    if preset in scales.TWIN_PRESETS:
        found = [s for chapter in CHAPTERS for s in chapter.twin_studies(preset, seed)]
        return sorted(found, key=lambda s: s.of_methods)  # stable: chapter order kept
    if preset in scales.BOOK_PRESETS:
        return [chapter.ale_study(preset, seed) for chapter in CHAPTERS]
    raise ValueError(
        f"the chapters have no runs at preset {preset!r} yet; book presets: "
        + ", ".join([*scales.BOOK_PRESETS, *scales.TWIN_PRESETS])
    )


def book_runs(preset: str, seed: int = 0) -> list[tuple[str, str, Config]]:
    """(chapter, label, config) of every run the chapters load at `preset`, each study's runs
    in their order (`studies_at`), a config several studies share listed once, first."""
    seen, planned = set(), []
    for study in studies_at(preset, seed):
        for run in study.runs:
            if (key := configs.config_hash(run.config)) not in seen:
                seen.add(key)
                planned.append((study.chapter, run.label, run.config))
    return planned
