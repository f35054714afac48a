"""The book: chapter sources, the papermill pipeline, and every chapter executed at `smoke`."""

import json
import pathlib
import re
import shutil
import subprocess

import jupytext
import nbformat
import pytest

from scaledql import book

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = book.chapter_names()
PARAMETERS = {"preset", "seed", "fresh", "since"}


def test_toc_lists_the_chapters_in_order_and_each_has_a_source():
    assert CHAPTERS == [
        "intro",
        "02_data",
        "03_method",
        "04_multi_game",
        "05_scaling",
        "06_ablations",
        "07_offline_finetuning",
        "08_online_finetuning",
    ]
    for name in CHAPTERS:
        assert (ROOT / "book" / f"{name}.md").exists()


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_chapter_has_one_parameters_cell_with_preset_seed_fresh_since(name):
    notebook = jupytext.read(ROOT / "book" / f"{name}.md")
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged parameters"
    assigned = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert PARAMETERS <= assigned


def test_text_shared_by_chapters_is_written_once_and_included():
    shared = sorted((ROOT / "book").glob("_*.md"))
    assert shared
    for part in shared:
        first_line = part.read_text().splitlines()[0]
        users = [n for n in CHAPTERS if f"{{include}} ../{part.name}" in chapter_text(n)]
        copies = [n for n in CHAPTERS if first_line in chapter_text(n)]
        assert len(users) >= 2 and not copies, (part.name, users, copies)


def chapter_text(name: str) -> str:
    return (ROOT / "book" / f"{name}.md").read_text()


# The percentages a page's prose may type: the dataset subsets ("the initial 20 %", "1 %
# uniform") and the intervals' confidence level. Scores and gains come from records or from
# data/paper/ at build time (MyST-NB's glue), so they never appear typed.
DEFINED_PERCENTAGES = {"1", "20", "95"}


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_score_is_typed_into_a_page_s_prose(name):
    notebook = jupytext.read(ROOT / "book" / f"{name}.md")
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    typed = set(re.findall(r"(?<![\w.`])(\d+(?:\.\d+)?) ?%", prose)) - DEFINED_PERCENTAGES
    assert not typed, f"{name}: glue {sorted(typed)} % from data/paper/ or a record instead"


def test_every_reference_is_cited_and_every_citation_listed():
    listed = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), re.M))
    pages = [p.read_text() for p in (ROOT / "book").glob("*.md")]
    cited = {
        key.strip()
        for page in pages
        for keys in re.findall(r"\{cite:[pt]\}`([^`]+)`", page)
        for key in keys.split(",")
    }
    assert cited - listed == set(), "cited, but missing from book/references.bib"
    assert listed - cited == set(), "listed in book/references.bib, but cited nowhere"


def test_no_committed_source_holds_outputs():
    tracked = subprocess.run(
        ["git", "ls-files", "book"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files found no book sources"
    assert not [f for f in tracked if f.endswith(".ipynb")], "executed notebooks are build outputs"
    assert not [f for f in tracked if f.startswith("book/_executed")]


def toy_book(tmp_path, chapter_source: str) -> pathlib.Path:
    """A one-chapter book in tmp_path with the repository's _config.yml."""
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp_path)
    shutil.copy(ROOT / "book" / "references.bib", tmp_path / "book")
    shutil.copytree(ROOT / "book" / "_static", tmp_path / "book" / "_static")
    (tmp_path / "book" / "intro.md").write_text("# Toy book\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n"
        "  - file: book/_executed/toy\n  - file: book/_executed/execution\n"
    )
    header = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
    header += "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n"
    header += "---\n\n# Toy\n\n"
    params = "```{code-cell} ipython3\n:tags: [parameters]\npreset = 'cpu'\nseed = 0\n"
    params += "fresh = False\n```\n\n"
    (tmp_path / "book" / "toy.md").write_text(header + params + chapter_source)
    return tmp_path


def test_a_failing_chapter_stops_the_build_naming_the_chapter(tmp_path):
    root = toy_book(tmp_path, "```{code-cell} ipython3\nraise RuntimeError('boom in toy')\n```\n")
    with pytest.raises(book.ChapterFailed, match=r"chapter toy .*RuntimeError: boom in toy"):
        book.run("smoke", root=root)
    assert not (root / "book" / "_executed" / "toy.ipynb").exists()
    assert (root / "book" / "_executed" / "toy.failed.ipynb").exists()


def test_parameters_reach_the_chapter_and_figures_survive_an_agg_backend(tmp_path, monkeypatch):
    # With MPLBACKEND=agg inherited by the kernel, inline figures vanish silently (trap 1).
    monkeypatch.setenv("MPLBACKEND", "agg")
    cell = (
        "```{code-cell} ipython3\nimport matplotlib.pyplot as plt\n"
        "plt.plot([0, 1]); plt.title(f'{preset} {seed}'); plt.show()\nprint(preset, seed)\n```\n"
    )
    root = toy_book(tmp_path, cell)
    rows = book.run("smoke", seed=3, root=root)
    assert [r["chapter"] for r in rows] == ["toy"]
    executed = nbformat.read(root / "book" / "_executed" / "toy.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("smoke 3" in o.get("text", "") for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert (root / "_build" / "html" / "book" / "_executed" / "toy.html").exists()
    assert "toy" in (root / "book" / "_executed" / "execution.md").read_text()
    shown = [c.source for c in executed.cells if "preset =" in c.source]
    assert len(shown) == 1 and 'preset = "smoke"' in shown[0] and "seed = 3" in shown[0]


def merged(declared: str, injected: str, *after: str) -> list[str]:
    """The cells' sources once `book.merge_injected_parameters` has run on a notebook of a
    `parameters` cell, papermill's injected cell and `after`."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(declared, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in after),
    ]
    book.merge_injected_parameters(notebook)
    return [c.source for c in notebook.cells]


def test_the_injected_parameters_replace_the_defaults_in_one_cell():
    declared = "preset = 'cpu'  # smoke | cpu\nseed = 0\nfresh = False  # retrain"
    injected = '# Parameters\npreset = "smoke"\nseed = 3\nsince = "2026"\n'
    assert merged(declared, injected, "print(preset)") == [
        'preset = "smoke"  # smoke | cpu\nseed = 3\nfresh = False  # retrain\nsince = "2026"',
        "print(preset)",
    ]


def test_an_injected_value_too_wide_for_the_page_moves_its_comment_above():
    declared = "since = None  # set by `scaledql book`: with fresh, retrain an older record only"
    assert merged(declared, 'since = "2026-12-07T18:02:47+00:00"') == [
        "# set by `scaledql book`: with fresh, retrain an older record only\n"
        'since = "2026-12-07T18:02:47+00:00"'
    ]


def overflowing_notebook(code: str, printed: str, table: str, tags=()) -> list[str]:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code, metadata={"tags": list(tags)})
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=printed),
        nbformat.v4.new_output("stream", name="stderr", text="x" * 200),  # not on the page
        nbformat.v4.new_output("display_data", data={"text/html": table, "text/plain": "x" * 200}),
    ]
    notebook.cells = [cell]
    return book.overflowing(notebook)


def test_lines_that_would_run_off_the_page_are_found():
    wide, fits = "y = 1  # " + "z" * 70, "y = 1"
    assert overflowing_notebook(fits, "short\n", "<td>1.0</td>") == []
    assert overflowing_notebook(wide, "short", "<td>1.0</td>") == [f"code: {wide}"]
    assert overflowing_notebook(wide, "", "", tags=["hide-input"]) == []  # folded: 100 wide
    assert overflowing_notebook(wide, "", "", tags=["remove-input"]) == []  # never shown
    assert overflowing_notebook(fits, "w" * 77, "") == ["output: " + "w" * 77]
    cut = "<td>initial 20 % of DQN Replay run (10M transition...</td>"
    assert overflowing_notebook(fits, "", f"<tr>{cut}<td>2</td></tr>") == [f"table cell: {cut}"]


def test_no_line_of_a_page_s_code_blocks_runs_off_the_page():
    wide = []
    for page in sorted((ROOT / "book").glob("*.md")):
        fence = None
        for line in page.read_text().splitlines():
            if line.startswith("```"):
                fence = None if fence else line
            elif fence and not fence.startswith("```{") and len(line) > book.PAGE_WIDTH:
                wide.append(f"{page.name}: {line}")
    assert wide == []


def test_the_runs_page_lists_each_figure_s_records_once(tmp_path):
    root = toy_book(tmp_path, "")
    row = {"label": "BC", "seed": 1, "record": "twin/abc.json", "command": "scaledql train"}
    figures = [
        {"label": "runs-toy-1", "caption": "Returns.", "study": "the study", "rows": [row]},
        {"label": "runs-toy-2", "caption": "Profiles.", "study": "the study", "rows": [row]},
    ]
    (root / "book" / "_executed").mkdir()
    (root / "book" / "_executed" / "toy.runs.json").write_text(json.dumps(figures))
    book.write_runs_page(root)
    page = (root / "book" / "_executed" / "runs.md").read_text()
    assert "## Toy" in page and "(runs-toy-1)=\n### Figure 1\n\n*Returns.*" in page
    assert "The study: 1 record.\n\n| label | seed | record | command |" in page
    assert "| BC | 1 | `twin/abc.json` | `scaledql train` |" in page
    assert "(runs-toy-2)=\n### Figure 2\n\n*Profiles.*\n\nThe same records as figure 1." in page


def test_an_unknown_preset_or_chapter_fails_before_executing(tmp_path):
    root = toy_book(tmp_path, "")
    with pytest.raises(ValueError, match="unknown preset 'big'"):
        book.run("big", root=root)
    with pytest.raises(ValueError, match="unknown chapters"):
        book.run("smoke", only=["nope"], root=root)


@pytest.mark.slow
def test_every_chapter_executes_at_smoke_with_figures_and_the_book_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEDQL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SCALEDQL_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SCALEDQL_COLLECTIONS", str(tmp_path / "collections"))
    root = tmp_path / "book_copy"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_executed"))
    rows = book.run("smoke", fresh=True, root=root)  # builds with -W: any warning fails
    assert [r["chapter"] for r in rows] == [*CHAPTERS[1:], "intro"]  # the intro reads the others'
    html = root / "_build" / "html" / "book" / "_executed"
    for name in CHAPTERS:
        executed = nbformat.read(root / "book" / "_executed" / f"{name}.ipynb", as_version=4)
        assert book.overflowing(executed) == [], f"{name} has lines that run off the page"
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        page = (html / f"{name}.html").read_text()
        for caption in re.findall(r"<em>(.*?)</em>", page, re.S):
            assert len(re.findall(r"\b[0-9a-f]{12}\b", caption)) <= 3, (name, caption[:200])
        if name == "intro":  # the results-at-a-glance table, made from the chapters' records
            table = [
                o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})
            ]
            assert table and table[0].startswith("| claim |")
            # the chapters with a twin study, and their rows in the table
            for chapter, claims in (("04_multi_game", 6), ("05_scaling", 3), ("06_ablations", 5)):
                rows = [row for row in table[0].splitlines() if f"({chapter}.ipynb)" in row]
                assert len(rows) == claims and not any("not run yet" in r for r in rows), chapter
            continue
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert images, f"{name} executed without a single figure"
        assert (root / "_build" / "html" / "book" / "_executed" / f"{name}.html").exists()
    # every figure's records, listed on the runs page that the captions link to
    assert (html / "runs.html").exists()
    runs = (root / "book" / "_executed" / "runs.md").read_text()
    assert "| `scaledql train --preset smoke" in runs and "`twin-smoke/" in runs
    # the equations render without a network: MathJax is served with the book
    method = (html / "03_method.html").read_text()
    assert re.search(r'src="[./]*_static/mathjax/tex-chtml.js"', method)
    assert (root / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js").exists()
    made = {p.parent.name for p in (tmp_path / "results").glob("*/*.json")}
    assert made == {"smoke", "twin-smoke"}
