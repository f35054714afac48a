"""The paper's reported numbers and settings, read from data/paper/*.csv.

Each row names the figure or table it comes from (`source`). Values are as printed in the paper:
percentages stay percentages (77.8 means 77.8 %).
"""

from __future__ import annotations

import csv
import pathlib

PAPER_DIR = pathlib.Path(__file__).resolve().parents[1] / "data" / "paper"


def table(name: str) -> list[dict]:
    """Rows of data/paper/{name}.csv; a `value` column becomes a float."""
    path = PAPER_DIR / f"{name}.csv"
    if not path.exists():
        tables = ", ".join(sorted(p.stem for p in PAPER_DIR.glob("*.csv")))
        raise FileNotFoundError(f"{path} does not exist; the paper's tables are: {tables}")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if "value" in row:
            row["value"] = float(row["value"])
    return rows


def reported(name: str, **where: str) -> float:
    """The one value in table `name` whose columns equal `where`, e.g.
    `reported("aggregates", method="Scaled QL", data="initial 20 % (sub-optimal)")`."""
    rows = [r for r in table(name) if all(r[k] == v for k, v in where.items())]
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} rows of data/paper/{name}.csv match {where}; expected one")
    return rows[0]["value"]
