"""Executes the book's chapters with papermill, then builds the HTML with Jupyter Book.

Chapters are jupytext MyST notebooks, `book/NAME.md`. `_toc.yml` lists their executed copies,
`book/_executed/NAME`, so it also fixes the order of execution. For each chapter: jupytext
converts the source, papermill runs it with `preset`, `seed`, `fresh` and `since` injected into
its `parameters` cell, and the executed notebook lands in `book/_executed/` (a build output, never
committed). The execution-statistics page is written from the timings, and `jupyter-book build`
renders exactly what papermill ran (`execute_notebooks: off`).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import version

import jax

from scaledql import configs, experiments, records
from scaledql.atomic import atomic_file

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EXECUTED = pathlib.Path("book") / "_executed"
STATISTICS_PAGE = "execution"  # book/_executed/execution.md, written by `write_statistics`


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


class ChapterFailed(RuntimeError):
    """A chapter raised during execution; the message names it and holds the traceback."""


def chapter_names(root: pathlib.Path = REPO_ROOT) -> list[str]:
    """The executed pages `_toc.yml` lists, its root first, in order (without the statistics
    page)."""
    import yaml  # the `book` extra's packages are imported only where the book is built

    def files(entry) -> list[str]:
        found = [entry["file"]] if isinstance(entry, dict) and "file" in entry else []
        for key in ("chapters", "sections", "parts"):
            for child in entry.get(key, []) if isinstance(entry, dict) else []:
                found += files(child)
        return found

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [pathlib.PurePosixPath(f) for f in [toc["root"], *files(toc)]]
    return [
        n.name for n in names if n.parent == pathlib.PurePosixPath(EXECUTED.as_posix())
        and n.name != STATISTICS_PAGE
    ]  # fmt: skip


def execute_chapter(name: str, parameters: dict, root: pathlib.Path = REPO_ROOT) -> float:
    """Runs book/NAME.md with papermill into book/_executed/NAME.ipynb; returns seconds taken.

    A failing chapter raises ChapterFailed with its traceback; its partial notebook is kept as
    NAME.failed.ipynb (outside the book) and the last good NAME.ipynb is removed.
    """
    import jupytext  # the `book` extra, as in `chapter_names`
    import nbformat
    import papermill

    source = root / "book" / f"{name}.md"
    if not source.exists():
        raise FileNotFoundError(f"_toc.yml lists {EXECUTED / name} but {source} does not exist")
    out_dir = root / EXECUTED
    out_dir.mkdir(parents=True, exist_ok=True)
    converted = out_dir / f"{name}.source.ipynb"
    with atomic_file(converted, "w") as f:
        nbformat.write(jupytext.read(source), f)
    output = out_dir / f"{name}.ipynb"
    running = out_dir / f"{name}.failed.ipynb"  # renamed to `output` once it succeeds
    output.unlink(missing_ok=True)
    # Inline figures vanish when the kernel inherits a non-interactive backend (toolchain trap 1).
    os.environ.pop("MPLBACKEND", None)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(converted),
            str(running),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(root / "book"),
            progress_bar=sys.stderr.isatty(),
        )
    except papermill.PapermillExecutionError as error:
        trace = ANSI_ESCAPE.sub("", "\n".join(error.traceback))
        raise ChapterFailed(
            f"chapter {name} (book/{name}.md) failed in cell {error.exec_count}: "
            f"{error.ename}: {error.evalue}\n{trace}\nThe partial notebook is {running}."
        ) from None
    finally:
        converted.unlink(missing_ok=True)
    with open(running) as f:
        executed = nbformat.read(f, as_version=4)
    merge_injected_parameters(executed)
    with atomic_file(output, "w") as f:
        nbformat.write(executed, f)
    running.unlink()
    return time.perf_counter() - started


def merge_injected_parameters(notebook) -> None:
    """Shows a chapter's parameters once: the values papermill injected replace the defaults
    in the cell tagged `parameters` (its comments kept), and papermill's own cell is dropped.

    Both cells ran, in order, so the merged cell states exactly what the chapter ran with.
    """
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if not injected or not tagged:
        return
    values = {}
    for line in injected[0].source.splitlines():
        name, sep, value = line.partition(" = ")
        if sep and name.isidentifier():
            values[name] = value.strip()
    lines = []
    for line in tagged[0].source.splitlines():
        name, sep, rest = line.partition(" = ")
        if sep and name in values:
            comment = rest[rest.index("  #") :] if "  #" in rest else ""
            line = f"{name} = {values.pop(name)}{comment}"
        lines.append(line)
    lines += [f"{name} = {value}" for name, value in values.items()]  # injected, not declared
    tagged[0].source = "\n".join(lines)
    notebook.cells = [c for c in notebook.cells if c is not injected[0]]


def write_statistics(rows: list[dict], parameters: dict, root: pathlib.Path = REPO_ROOT) -> None:
    """The execution-statistics page: runtime per chapter, device and versions."""
    packages = ["jax", "flax", "optax", "ale-py", "rliable", "jupyter-book", "papermill"]
    lines = [
        "# Execution statistics",
        "",
        "Every chapter of this build was executed headlessly by papermill with",
        f"`scaledql book --preset {parameters['preset']} --seed {parameters['seed']}`"
        + (" --fresh" if parameters["fresh"] else "")
        + f", on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.",
        "Chapters reuse committed run records when their config hash matches, so a chapter's",
        "runtime here can be far below the training time its records report.",
        "",
        "| chapter | runtime (s) |",
        "| --- | ---: |",
        *(f"| {row['chapter']} | {row['seconds']:.1f} |" for row in rows),
        f"| **total** | **{sum(r['seconds'] for r in rows):.1f}** |",
        "",
        f"- device: {jax.devices()[0].device_kind} x{jax.device_count()} "
        f"({jax.default_backend()}), {os.cpu_count()} CPU cores",
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{p} {version(p)}" for p in packages),
        "",
    ]
    with atomic_file(root / EXECUTED / f"{STATISTICS_PAGE}.md", "w") as f:
        f.write("\n".join(lines))


def build_html(root: pathlib.Path = REPO_ROOT) -> None:
    """`jupyter-book build . -W -n --keep-going`: every Sphinx warning fails the build."""
    command = [
        str(pathlib.Path(sys.executable).with_name("jupyter-book")),
        *("build", ".", "-W", "-n", "--keep-going"),
    ]
    subprocess.run(command, cwd=root, check=True)


def _report_missing_runs(preset: str, seed: int, fresh: bool) -> None:
    """Says up front how many runs the chapters will train rather than load."""
    planned = experiments.book_runs(preset, seed)
    missing = len(planned) if fresh else sum(records.load_record(c) is None for _, _, c in planned)
    if missing:
        print(
            f"{missing} of the {len(planned)} runs the chapters use at preset {preset} have no "
            f"record{' (or are retrained: --fresh)' if fresh else ''}; the chapters train them "
            f"(`scaledql runs --preset {preset}` lists them with their commands).",
            flush=True,
        )


def run(
    preset: str,
    seed: int = 0,
    fresh: bool = False,
    only: list[str] | None = None,
    build: bool = True,
    root: pathlib.Path = REPO_ROOT,
) -> list[dict]:
    """Executes every chapter (or `only` those) at `preset`, writes the statistics page, builds.

    fresh: retrain every run a chapter uses, once per build (a run two chapters share is trained
    by the first and reused by the second: each chapter gets the build's start as `since`).
    """
    configs.preset(preset)  # an unknown preset fails here, before any chapter starts
    experiments.book_runs(preset, seed)  # and one the chapters have no runs for
    names = chapter_names(root)
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown chapters {unknown}; the book's chapters: {', '.join(names)}")
    _report_missing_runs(preset, seed, fresh)
    parameters = {"preset": preset, "seed": seed, "fresh": fresh, "since": records.now()}
    rows = []
    # The root page (the intro) summarises the records the chapters make: it runs last.
    for i, name in sorted(enumerate(names, 1), key=lambda pair: pair[1] == names[0]):
        if only and name not in only:
            continue
        print(f"[{i}/{len(names)}] {name}: executing at preset {preset}", flush=True)
        seconds = execute_chapter(name, parameters, root)
        print(f"[{i}/{len(names)}] {name}: done in {seconds:.1f} s", flush=True)
        rows.append({"chapter": name, "seconds": seconds})
    write_statistics(rows, parameters, root)
    if build:
        build_html(root)
    return rows
