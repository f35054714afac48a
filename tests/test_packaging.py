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


def readme_command(target: str) -> str:
    """The README's command for `target` (`make book`): a line of its first bash block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    return next(c for c in commands if c.startswith(target))


def test_the_publishing_workflow_builds_with_the_readme_command_on_every_push_to_main():
    workflow = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
    runs = [line.strip() for step in steps for line in step.get("run", "").splitlines()]
    assert readme_command("make book") in runs
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert [s["with"]["path"] for s in uploads] == ["_build/html"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)
    # the launch buttons open the executed notebooks from the branch the workflow pushes
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert {"colab_url", "binderhub_url"} <= set(config["launch_buttons"])
    assert f"git push -f origin {config['repository']['branch']}" in runs
