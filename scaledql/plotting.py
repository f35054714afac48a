"""The book's figures, in one style: seaborn's colour-blind palette, as rliable draws them.

Every function returns a matplotlib Figure and computes nothing but layout; the numbers come
from `scores`, `analysis` and the records. `show(figure, caption)` displays a figure with its
caption below it, which is how chapters put the preset, seeds, games and record names under
every figure.
"""

from __future__ import annotations

import matplotlib.colors
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

PALETTE = sns.color_palette("colorblind")
PAPER_MARKER = {"marker": "D", "s": 60, "facecolors": "none", "linewidths": 1.5, "zorder": 3}


def style() -> None:
    """The book's matplotlib style, and its tables' (no cell cut short with "..."; the page's
    style sheet wraps long cells instead); chapters call it once."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.titlesize": "medium"})
    pd.set_option("display.max_colwidth", None)


def colours(names) -> dict[str, tuple]:
    """A fixed colour for each name, in order of the palette."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def show(figure, caption: str) -> None:
    """Displays `figure` inline with `caption` in italics below it, then closes it."""
    from IPython.display import Markdown, display

    display(figure)
    display(Markdown(f"*{caption}*"))
    plt.close(figure)


def frame_strip(frames: np.ndarray, titles: list[str]):
    """frames: (N, 84, 84) uint8 greyscale observations, one panel each."""
    figure, axes = plt.subplots(1, len(frames), figsize=(1.6 * len(frames), 2.0))
    for ax, frame, title in zip(np.atleast_1d(axes), frames, titles, strict=True):
        ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize="small")
        ax.axis("off")
    figure.tight_layout()
    return figure


def grid_strip(grids: list[np.ndarray], titles: list[str], columns: int = 4):
    """grids: (10, 10, K) object grids, one panel each, `columns` a row; a cell takes the
    colour of its highest active channel, as MinAtar draws its games, on a white board with
    faint cell lines (an empty cell is white, so the objects stand out on a printed page)."""
    rows = -(-len(grids) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.5 * columns, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(grids) :]:
        ax.axis("off")
    channels = max(np.asarray(g).shape[-1] for g in grids)
    palette = [(1, 1, 1), *sns.color_palette("tab10", channels)]
    for ax, grid, title in zip(axes.flat[: len(grids)], grids, titles, strict=True):
        grid = np.asarray(grid)
        layer = np.where(grid.any(-1), grid.shape[-1] - np.argmax(grid[..., ::-1], -1), 0)
        cmap = matplotlib.colors.ListedColormap(palette)
        ax.imshow(layer, cmap=cmap, vmin=0, vmax=channels, interpolation="none")
        ax.set_xticks(np.arange(-0.5, grid.shape[1]), minor=True)
        ax.set_yticks(np.arange(-0.5, grid.shape[0]), minor=True)
        ax.grid(which="major", visible=False)
        ax.grid(which="minor", color="0.85", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(title, fontsize="medium")
    figure.tight_layout()
    return figure


def grouped_bars(values: dict[str, dict[str, float]], ylabel: str, reference: float | None = None):
    """values[series][game]: one group of bars per game, one bar per series."""
    series = list(values)
    games = list(next(iter(values.values())))
    palette = colours(series)
    width = 0.8 / len(series)
    figure, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(games)), 3.2))
    for i, name in enumerate(series):
        xs = np.arange(len(games)) + (i - (len(series) - 1) / 2) * width
        heights = [values[name].get(game, np.nan) for game in games]
        ax.bar(xs, heights, width, label=name, color=palette[name])
    if reference is not None:
        ax.axhline(reference, color="0.3", linewidth=1, linestyle="--")
    ax.set_xticks(np.arange(len(games)), games, rotation=20)
    ax.set_ylabel(ylabel)
    # below the axes: inside them it covers the tallest bars
    ax.legend(
        fontsize="small", ncols=min(len(series), 4), loc="upper center",
        bbox_to_anchor=(0.5, -0.3), frameon=False,
    )  # fmt: skip
    figure.tight_layout()
    return figure


def seed_bars(
    values: dict[str, dict[str, list[float]]],
    ylabel: str,
    markers: dict[str, dict[str, float]] | None = None,
    columns: int = 5,
):
    """One panel per game: a bar per series at the mean over its seeds, each seed a dot.

    values[series][game]: the series' values on the game, one per training seed (a single
    value for a series without seeds, such as the behaviour data); markers[name][game]: a
    reference drawn as a horizontal tick across the panel (the published DQN, the final DQN).
    """
    markers = markers or {}
    series = list(values)
    games = list(next(iter(values.values())))
    palette = colours([*series, *markers])
    rows = -(-len(games) // columns)
    legend_columns = 3
    # Inches under the panels for the legend, so that a long one never covers the axes.
    legend_height = 0.1 + 0.22 * -(-(len(series) + len(markers)) // legend_columns)
    height = 2.6 * rows + legend_height
    figure, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, height), squeeze=False)
    for ax in axes.flat[len(games) :]:
        ax.axis("off")
    for ax, game in zip(axes.flat, games, strict=False):
        for i, name in enumerate(series):
            seeds = np.asarray(values[name][game], float)
            ax.bar(i, seeds.mean(), 0.7, color=palette[name], alpha=0.8)
            jitter = np.linspace(-0.15, 0.15, seeds.size) if seeds.size > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), seeds, s=10, color="black", zorder=3)
        for name, by_game in markers.items():
            if by_game.get(game) is not None:
                ax.axhline(by_game[game], color=palette[name], linestyle="--", linewidth=1.5)
        ax.set_xticks([])
        ax.set_title(game.removeprefix("minatar/"), fontsize="small")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[n], alpha=0.8) for n in series]
    handles += [plt.Line2D([], [], color=palette[n], linestyle="--") for n in markers]
    figure.legend(
        handles,
        [*series, *markers],
        loc="lower center",
        ncols=legend_columns,
        fontsize="small",
        frameon=False,
    )
    figure.tight_layout(rect=(0, legend_height / height, 1, 1))
    return figure


def interval_estimates(
    estimates: dict[str, dict[str, tuple[float, float, float]]],
    metrics: tuple[str, ...],
    paper: dict[str, dict[str, float]] | None = None,
    xlabel: str = "Human-normalised score (%)",
):
    """One panel per metric: each method's point estimate and 95 % interval as a bar.

    estimates[method][metric] = (point, low, high) as fractions; paper[method][metric] is the
    paper's value in percent, drawn as a hollow diamond on its own row ("paper: METHOD").
    """
    paper = paper or {}
    rows = [(m, "ours") for m in estimates] + [(m, "paper") for m in paper]
    palette = colours(dict.fromkeys([m for m, _ in rows]))
    figure, axes = plt.subplots(
        1, len(metrics), figsize=(3.2 * len(metrics), 0.45 * len(rows) + 1.2), sharey=True
    )
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        for y, (method, kind) in enumerate(rows):
            if kind == "ours":
                point, low, high = (100 * v for v in estimates[method][metric])
                if high > low:  # a bar of no width would pin the axes' end to its point
                    ax.barh(y, high - low, left=low, height=0.6, color=palette[method], alpha=0.75)
                # a line, not vlines: it widens the axes to a point outside every bar
                ax.plot([point, point], [y - 0.3, y + 0.3], color="black", linewidth=1.5)
            elif metric in paper[method]:
                ax.scatter(paper[method][metric], y, edgecolors=palette[method], **PAPER_MARKER)
        ax.set_title(metric)
        ax.set_xlabel(xlabel)
        ax.margins(x=0.08)  # a point at the end of the range stays clear of the frame
    labels = [m if kind == "ours" else f"paper: {m}" for m, kind in rows]
    np.atleast_1d(axes)[0].set_yticks(range(len(rows)), labels)
    np.atleast_1d(axes)[0].invert_yaxis()
    figure.tight_layout()
    return figure


def performance_profiles(
    taus: np.ndarray,
    profiles: dict,
    intervals: dict,
    xlabel: str = r"Human-normalised score $\tau$",
):
    """Fraction of (run, game) scores above each tau, per method, with 95 % bands."""
    palette = colours(profiles)
    figure, ax = plt.subplots(figsize=(5.0, 3.2))
    for method, profile in profiles.items():
        ax.plot(taus, profile, color=palette[method], label=method, linewidth=2)
        low, high = intervals[method]
        ax.fill_between(taus, low, high, color=palette[method], alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"Fraction of scores $> \tau$")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def scaling_curves(
    curves: dict[str, list[tuple[int, float, float, float]]], ylabel: str, xlabel: str
):
    """curves[family] = [(parameters, point, low, high)]: score against size on a log axis."""
    palette = colours(curves)
    figure, ax = plt.subplots(figsize=(5.0, 3.4))
    for family, points in curves.items():
        params, point, low, high = (np.asarray(v, float) for v in zip(*sorted(points), strict=True))
        ax.plot(params, point, "o-", color=palette[family], label=family, linewidth=2)
        ax.fill_between(params, low, high, color=palette[family], alpha=0.15)
    ax.set_xscale("log")
    sizes = sorted({p for points in curves.values() for p, *_ in points})
    if sizes[-1] < 10 * sizes[0]:  # within a decade a log axis may show no tick: mark the sizes
        ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_count_label))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def _count_label(value: float, _position=None) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:g}"


def learning_curves(curves: dict[str, list[dict]], keys: tuple[str, ...]):
    """curves[label] = a record's learning curve (rows with `step` and each key)."""
    palette = colours(curves)
    figure, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 2.8))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        for label, rows in curves.items():
            steps = [row["step"] for row in rows if key in row]
            ax.plot(
                steps, [row[key] for row in rows if key in row], label=label, color=palette[label]
            )
        ax.set_title(key)
        ax.set_xlabel("gradient step")
    np.atleast_1d(axes)[0].legend(fontsize="small")
    figure.tight_layout()
    return figure


def online_learning_curves(panels: dict[str, dict[str, dict]]):
    """panels[title][label] = `analysis.seed_learning_curve` of an online run's seeds: one
    panel per game variant (two a row from four on), the mean return over the seeds in each
    stretch of frames, and the range of the seeds' means around it where there are several.
    The ranges are drawn faintly under every line and outlined, so that no method's range
    hides another's line; the legend sits under the panels, clear of their curves."""
    labels = list(dict.fromkeys(label for runs in panels.values() for label in runs))
    palette = colours(labels)
    columns = len(panels) if len(panels) <= 3 else 2
    rows = -(-len(panels) // columns)
    legend_height = 0.15 + 0.25 * -(-len(labels) // 3)
    height = 2.7 * rows + legend_height
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, height), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    handles = {}
    for ax, (title, runs) in zip(axes.flat, panels.items(), strict=False):
        for label, curve in runs.items():
            seeds = len(curve["per_seed"])
            (line,) = ax.plot(curve["frames"], curve["mean"], "-o", markersize=2.5,
                              color=palette[label], zorder=3)  # fmt: skip
            handles[f"{label} ({seeds} seeds)" if seeds > 1 else label] = line
            if seeds > 1:
                band = {"color": palette[label], "alpha": 0.12, "linewidth": 0.6, "zorder": 1}
                ax.fill_between(curve["frames"], curve["low"], curve["high"], **band)
        ax.set_title(title)
        ax.set_xlabel("frames played")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_count_label))
    for ax in axes[:, 0]:
        ax.set_ylabel("episode return")
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncols=3, fontsize="small",
                  frameon=False)  # fmt: skip
    figure.tight_layout(rect=(0, legend_height / height, 1, 1))
    return figure


def distribution_projection(support, probs, shifted, projected):
    """C51's projection. support (K,): the fixed atoms; probs (K,): the next-state distribution
    on them; shifted (K,): the atoms r + gamma z_j it moves to; projected (K,): its mass back
    on the support."""
    figure, axes = plt.subplots(1, 2, figsize=(8.0, 2.8), sharey=True)
    width = 0.8 * (support[1] - support[0])
    axes[0].bar(support, probs, width=width, color="0.75", label=r"$Z(s', a^*)$ on $z_j$")
    axes[0].vlines(shifted, 0, probs, color=PALETTE[0], label=r"moved to $r + \gamma z_j$")
    axes[0].set_title("target before projection")
    axes[1].bar(support, projected, width=width, color=PALETTE[1])
    axes[1].set_title(r"$\Pi$: projected onto the fixed atoms")
    for ax in axes:
        ax.set_xlabel("return")
    axes[0].set_ylabel("probability")
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    return figure


def stacked_counts(counts: dict[str, dict[str, int]], xlabel: str = "Parameters (millions)"):
    """counts[name][part]: one horizontal bar per name, split into its parts."""
    names = list(counts)
    parts = list(next(iter(counts.values())))
    palette = colours(parts)
    figure, ax = plt.subplots(figsize=(6.0, 0.4 * len(names) + 1.2))
    left = np.zeros(len(names))
    for part in parts:
        widths = np.array([counts[n][part] for n in names]) / 1e6
        ax.barh(names, widths, left=left, label=part, color=palette[part])
        left += widths
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    return figure


def ablation_pairs(rows: list[tuple[str, str, float, str, float | None]], ylabel: str):
    """rows: (ablation, baseline label, baseline score, variant label, variant score).

    One panel per ablation: the two settings' scores side by side.
    """
    figure, axes = plt.subplots(1, len(rows), figsize=(2.6 * len(rows), 3.0), sharey=True)
    for ax, (title, base_label, base, variant_label, variant) in zip(
        np.atleast_1d(axes), rows, strict=True
    ):
        ax.bar([0, 1], [base, variant], color=[PALETTE[0], PALETTE[1]])
        ax.set_xticks([0, 1], [base_label, variant_label], fontsize="small")
        ax.set_title(title, fontsize="small")
    np.atleast_1d(axes)[0].set_ylabel(ylabel)
    figure.tight_layout()
    return figure


def behaviour_curves(
    runs: dict[str, dict[str, list[tuple[float, float]]]],
    published: dict[str, list[tuple[float, float]]],
    random: dict[str, float],
):
    """One panel per game (those of the first run): each run's behaviour DQN episode returns
    against frames (runs[label][game] = [(frames, mean return)]), the published curve as hollow
    diamonds, random play dashed."""
    games = list(next(iter(runs.values())))
    palette = colours([*runs, "MinAtar paper's DQN"])
    figure, axes = plt.subplots(1, len(games), figsize=(3.0 * len(games), 2.8), squeeze=False)
    for ax, game in zip(axes[0], games, strict=True):
        for label, curves in runs.items():
            if curves.get(game):
                frames, returns = zip(*curves[game], strict=True)
                ax.plot(frames, returns, color=palette[label], label=label)
        if published.get(game):
            px, py = zip(*published[game], strict=True)
            ax.scatter(px, py, edgecolors=palette["MinAtar paper's DQN"], label="MinAtar paper",
                       **PAPER_MARKER)  # fmt: skip
        ax.axhline(random[game], color="grey", linestyle="--", linewidth=1, label="random")
        ax.set_title(game.removeprefix("minatar/"))
        ax.set_xlabel("frames played")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_count_label))
    axes[0, 0].set_ylabel("episode return")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    # below the panels, where no curve runs under it
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return figure
