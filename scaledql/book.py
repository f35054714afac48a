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
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import version

import jax

from scaledql import configs, records, report, studies
from scaledql.atomic import atomic_file

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EXECUTED = pathlib.Path("book") / "_executed"
REPOSITORY_URL = "https://github.com/scaledql/scaledql"  # as _config.yml's repository.url
STATISTICS_PAGE = "execution"  # book/_executed/execution.md, written by `write_statistics`


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


# The first cell of every executed chapter, not shown on its page: where a launch button opened
# the notebook on Colab, it fetches the repository (the records, the package) and installs the
# package; Binder builds environment.yml instead, and everywhere else the cell does nothing.
HOSTED_SETUP = f"""\
import sys

if "google.colab" in sys.modules:  # opened from the book's Colab button
    !git clone -q --depth 1 {REPOSITORY_URL} /content/scaledql
    %pip install -q -e /content/scaledql
    sys.path.insert(0, "/content/scaledql")
    %cd /content/scaledql/book"""
HIDDEN = {"tags": ["remove-cell"]}


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
        and n.name not in (STATISTICS_PAGE, report.RUNS_PAGE)
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
    notebook = jupytext.read(source)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(HOSTED_SETUP, metadata=HIDDEN))
    with atomic_file(converted, "w") as f:
        nbformat.write(notebook, f)
    output = out_dir / f"{name}.ipynb"
    running = out_dir / f"{name}.failed.ipynb"  # renamed to `output` once it succeeds
    provenance = out_dir / f"{name}.{report.RUNS_PAGE}.json"  # the chapter's captions fill it
    output.unlink(missing_ok=True)
    provenance.unlink(missing_ok=True)
    # Inline figures vanish when the kernel inherits a non-interactive backend (toolchain trap 1).
    os.environ.pop("MPLBACKEND", None)
    os.environ[report.PROVENANCE_ENV] = str(provenance)
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
        os.environ.pop(report.PROVENANCE_ENV)
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
            value = values.pop(name)
            line = f"{name} = {value}{comment}"
            if len(line) > PAGE_WIDTH and comment:  # a longer value: its comment goes above
                lines.append(comment.strip())
                line = f"{name} = {value}"
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


def write_runs_page(root: pathlib.Path = REPO_ROOT) -> None:
    """The "Runs behind this book" page: per chapter and figure, every record its caption
    registered (`report.caption`), with its label, seed, record and command."""
    lines = [
        "# Runs behind this book",
        "",
        "Every figure and table of results in this book is drawn from run records: JSON files",
        "under `data/results/PRESET/HASH.json`, each holding one training run's configuration,",
        "data, scores, learning curve and provenance, named by the hash of its configuration.",
        "A caption says which study, preset, seeds and how many records it reads; this page",
        "lists them, chapter by chapter and figure by figure, with the command that trains each",
        "again. `scaledql runs --preset PRESET` lists every run of a preset with its state.",
        "",
    ]
    for name in chapter_names(root):
        path = root / EXECUTED / f"{name}.{report.RUNS_PAGE}.json"
        if not path.exists():
            continue
        title = next(
            line[2:] for line in (root / "book" / f"{name}.md").read_text().splitlines()
            if line.startswith("# ")
        )  # fmt: skip
        lines += [f"## {title}", ""]
        shown: dict[tuple, str] = {}
        for number, figure in enumerate(json.loads(path.read_text()), 1):
            lines += [f"({figure['label']})=", f"### Figure {number}", ""]
            lines += [f"*{figure['caption']}*", ""]
            rows = tuple((r["label"], r["seed"], r["record"]) for r in figure["rows"])
            if rows in shown:
                lines += [f"The same records as {shown[rows]}.", ""]
                continue
            shown[rows] = f"figure {number}"
            study = (
                figure["study"][:1].upper() + figure["study"][1:] + ": " if figure["study"] else ""
            )
            lines += [f"{study}{len(rows)} record{'s' if len(rows) > 1 else ''}.", ""]
            lines += ["| label | seed | record | command |", "| --- | ---: | --- | --- |"]
            lines += [
                f"| {r['label']} | {r['seed']} | `{r['record']}` | `{r['command']}` |"
                for r in figure["rows"]
            ]
            lines.append("")
    with atomic_file(root / EXECUTED / f"{report.RUNS_PAGE}.md", "w") as f:
        f.write("\n".join(lines))


# How wide a line may be before it runs off the page's column: printed output and the code a
# reader sees without unfolding it.
PAGE_WIDTH = report.PAGE_WIDTH
# Folded code (`hide-input`) may use the package's own line length: it wraps when unfolded.
FOLDED_CODE_WIDTH = 100
TRUNCATED_CELL = re.compile(r"<td>[^<]*(\.\.\.|…)</td>")


def read_notebook(path: pathlib.Path):
    import nbformat  # the `book` extra, as in `chapter_names`

    with open(path) as f:
        return nbformat.read(f, as_version=4)


def overflowing(notebook) -> list[str]:
    """What in an executed chapter would run off its page: code lines wider than the column
    (`PAGE_WIDTH`; folded code `FOLDED_CODE_WIDTH`), printed lines wider than the column, and
    table cells that pandas cut short with "...". Each item quotes the line."""
    found = []
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "remove-cell" in tags:
            continue
        if "remove-input" not in tags:
            width = FOLDED_CODE_WIDTH if "hide-input" in tags else PAGE_WIDTH
            found += [f"code: {line}" for line in cell.source.splitlines() if len(line) > width]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            stdout = output.get("output_type") == "stream" and output.get("name") == "stdout"
            text = output.get("text", "") if stdout else ""  # stderr is not shown on the page
            if "text/plain" in data and not {"text/html", "text/markdown", "image/png"} & set(data):
                text = data["text/plain"]
            found += [f"output: {line}" for line in text.splitlines() if len(line) > PAGE_WIDTH]
            found += [
                f"table cell: {m.group(0)}"
                for m in TRUNCATED_CELL.finditer(data.get("text/html", ""))
            ]
    return found


def build_html(root: pathlib.Path = REPO_ROOT) -> None:
    """`jupyter-book build . -W -n --keep-going`: every Sphinx warning fails the build."""
    command = [
        str(pathlib.Path(sys.executable).with_name("jupyter-book")),
        *("build", ".", "-W", "-n", "--keep-going"),
    ]
    subprocess.run(command, cwd=root, check=True)


def _report_missing_runs(preset: str, seed: int, fresh: bool) -> None:
    """Says up front how many runs the chapters will train rather than load."""
    planned = studies.book_runs(preset, seed)
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
    studies.book_runs(preset, seed)  # and one the chapters have no runs for
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
        wide = overflowing(read_notebook(root / EXECUTED / f"{name}.ipynb"))
        if wide:
            print(f"  {len(wide)} lines would run off the page:", *wide[:5], sep="\n    ")
        rows.append({"chapter": name, "seconds": seconds})
    write_statistics(rows, parameters, root)
    write_runs_page(root)
    if build:
        build_html(root)
    return rows
