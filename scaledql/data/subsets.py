"""Named dataset subsets: which checkpoints and rows of a run a setting selects.

- `all`: every checkpoint of the run.
- `initial:X`: the first X % of the run's checkpoints, suffixes 0..k-1 with
  k = round(X / 100 * F), F the number of full checkpoints of the whole run (50 in DQN Replay,
  so `initial:20` is suffixes 0-9, the 10M transitions of the paper's sub-optimal setting). A
  run collected here counts the checkpoints it will have when finished, so an unfinished run
  that already holds suffixes 0..k-1 serves `initial:X` (`checkpoints_read`).
- `uniform:X`: X % of the rows spread evenly over the run: the first X % of every checkpoint
  (batch_rl's "x %" subsets: 10,000 rows of each of 50 checkpoints = 1 %). Multi-Game DT and
  the paper describe their fine-tuning data as "1 % uniformly sampled"; whether they kept whole
  blocks like this or single transitions is not stated. Blocks keep frame stacks and n-step
  returns intact.
"""

from __future__ import annotations

import dataclasses
import pathlib

from scaledql.data import format as fmt
from scaledql.data.collect import read_log
from scaledql.data.run import RunData, open_run, read_checkpoint_infos

SUBSET_KINDS = ("all", "initial:X", "uniform:X")


@dataclasses.dataclass(frozen=True)
class Subset:
    kind: str  # all | initial | uniform
    percent: float = 100.0


def parse_subset(text: str) -> Subset:
    """Parses `all`, `initial:20` or `uniform:1`; raises a ValueError listing the forms."""
    kind, _, value = text.partition(":")
    try:
        if kind == "all" and not value:
            return Subset("all")
        if kind in ("initial", "uniform") and 0 < float(value) <= 100:
            return Subset(kind, float(value))
    except ValueError:
        pass
    raise ValueError(
        f"unknown data subset {text!r}; use one of {', '.join(SUBSET_KINDS)} with X in (0, 100]"
    )


def checkpoints_read(subset: str | Subset, planned: int) -> int | None:
    """How many leading checkpoints of a run of `planned` full checkpoints `subset` reads:
    round(X % of them), at least one, for `initial:X`; None (every one) for the others."""
    subset = parse_subset(subset) if isinstance(subset, str) else subset
    if subset.kind != "initial":
        return None
    return max(1, round(subset.percent / 100 * max(planned, 1)))


def open_subset(run_dir: pathlib.Path, subset: str | Subset) -> RunData:
    """Opens the rows of `run_dir` that `subset` selects (building only the caches it needs).

    Raises a DataFormatError when the run is an unfinished collection that lacks checkpoints
    the subset reads."""
    subset = parse_subset(subset) if isinstance(subset, str) else subset
    log = read_log(run_dir)
    unfinished = log is not None and not log.get("complete")
    keep = subset.percent / 100 if subset.kind == "uniform" else None
    if subset.kind != "initial" and not unfinished:
        return open_run(run_dir, keep_fraction=keep)
    infos = read_checkpoint_infos(run_dir)
    full = [i.suffix for i in infos if i.num_rows >= i.capacity - 1]
    # a run collected here is as long as it was planned, whatever part of it is on disk
    planned = log["target_steps"] // log["settings"]["capacity"] if unfinished else len(full)
    count = checkpoints_read(subset, planned) or planned
    if count > len(full):
        raise fmt.DataFormatError(
            f"{run_dir} holds the first {len(full)} of the {planned} checkpoints of an "
            f"unfinished collection; data.subset={subset.kind}"
            + ("" if subset.kind == "all" else f":{subset.percent:g}")
            + f" reads {count} of them. Finish the collection: `scaledql collect` with its "
            "settings resumes it, and so does training a config that needs it"
        )
    if subset.kind != "initial":
        return open_run(run_dir, keep_fraction=keep)
    return open_run(run_dir, suffixes=[i.suffix for i in infos][:count])


def run_dir(root: pathlib.Path, game: str, run: int) -> pathlib.Path:
    """Where run `run` of `game` lives under a dataset root: DQN Replay's own layout."""
    return pathlib.Path(root) / game / str(run) / "replay_logs"


def open_game_runs(root: pathlib.Path, game: str, runs, subset: str | Subset) -> list[RunData]:
    """The `subset` of each of `runs` of `game` under `root` (the "several runs" setting)."""
    missing = [run_dir(root, game, r) for r in runs if not run_dir(root, game, r).is_dir()]
    if missing:
        raise fmt.DataFormatError(
            f"no data for {game} run(s) {[p.parent.name for p in missing]}: {missing[0]} does not "
            f"exist. Collect it with `scaledql collect --game {game} --out {missing[0]} ...` or "
            f"download it with `gsutil -m cp -R gs://atari-replay-datasets/dqn/{game}/"
            f"{missing[0].parent.name} {pathlib.Path(root) / game}`; data kept elsewhere is "
            "found with --set data.root=DIR (laid out as DIR/{Game}/{run}/replay_logs)"
        )
    return [open_subset(run_dir(root, game, r), subset) for r in runs]
