"""environment.yml and pyproject.toml list the same dependencies; the pinned stack imports."""

import pathlib
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pip = [r for r in pip_section if not r.startswith("-e")]
    assert sorted(map(normalise, conda_pip)) == sorted(map(normalise, declared)), (
        "environment.yml and pyproject.toml disagree: edit both lists together"
    )


def test_rliable_imports_with_the_pinned_pandas():
    # rliable -> arch, which fails on pandas 3; the pin keeps this working.
    from rliable import library, metrics  # noqa: F401
