"""The package's layers: every module imports only from its own layer or the ones below it, and
no import, at module level or inside a function, closes a cycle.

The declared order lives here, once; README's module table follows it.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "scaledql"

# Bottom to top. A unit is a module (`scaledql/x.py`) or a subpackage (`scaledql/x/`).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("atomic", "distributed", "envs", "paper", "scores"),  # foundations: files, processes,
    # games, the paper, statistics
    ("configs",),  # what defines a run
    ("data",),  # the replay format, sampler, subsets, the play loop given a policy
    ("networks", "losses"),
    ("learner",),  # train state, optimiser, update; handed its initial parameters
    ("checkpoints",),
    ("offline", "agents", "evaluate"),  # the offline loop, agents that act, evaluation
    ("online",),  # the online loop: an agent of `agents` playing through `data.collect`
    ("records",),  # storage and provenance of run records
    ("analysis",),  # score matrices, aggregates, every verdict the book states
    ("pipeline",),  # the one module that wires the steps together
    ("plotting", "report"),  # figures and the text beside them
    ("studies",),  # each chapter's runs at every preset, the paper's claims, and their `load`
    ("findings",),  # each claim's results and verdicts from the records; the glance table
    ("benchmarks", "book", "cli"),
)
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(path: pathlib.Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imports_in(source: str) -> set[str]:
    """The scaledql units a source imports anywhere in it (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # relative: within its own subpackage
            names = []
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "scaledql" and len(parts) > 1 and parts[1] in LAYER_OF:
                found.add(parts[1])
    return found


def imported_units(path: pathlib.Path) -> set[str]:
    """The other units a file of the package imports."""
    return imports_in(path.read_text()) - {unit_of(path)}


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_unit_has_a_layer():
    units = {unit_of(p) for p in SOURCES}
    assert units == set(LAYER_OF), "declare new modules in LAYERS (and README's module table)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_it(path):
    mine = LAYER_OF[unit_of(path)]
    above = sorted(u for u in imported_units(path) if LAYER_OF[u] > mine)
    assert not above, f"{path.relative_to(PACKAGE)} (layer {mine}) imports from above: {above}"


def test_the_import_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        graph.setdefault(unit_of(path), set()).update(imported_units(path))
    state: dict[str, str] = {}

    def visit(unit, trail):
        if state.get(unit) == "done":
            return
        assert state.get(unit) != "open", f"import cycle: {' -> '.join([*trail, unit])}"
        state[unit] = "open"
        for other in sorted(graph.get(unit, ())):
            visit(other, [*trail, unit])
        state[unit] = "done"

    for unit in sorted(graph):
        visit(unit, [])


def test_the_checker_sees_function_level_imports():
    source = "def f():\n    from scaledql import pipeline\n    import scaledql.records as r\n"
    assert imports_in(source) == {"pipeline", "records"}
    assert imports_in("from scaledql.data.run import open_run\nimport numpy\n") == {"data"}
