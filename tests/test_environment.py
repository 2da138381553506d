"""environment.yml (conda-forge) and pyproject.toml declare the same packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
# conda-forge name -> PyPI name where they differ
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    return {_name(r) for r in reqs}


def conda_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name = _name(dep)
            if name not in NOT_PACKAGES:
                names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_yml_uses_conda_forge_and_installs_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip and "-e ." in pip[0]["pip"]


def test_environment_yml_and_pyproject_agree():
    py, conda = pyproject_packages(), conda_packages()
    assert py - conda == set(), f"in pyproject.toml but not environment.yml: {py - conda}"
    assert conda - py == set(), f"in environment.yml but not pyproject.toml: {conda - py}"


def test_packaged_manifest_is_the_repository_manifest():
    packaged = ROOT / "unisst_lib" / "data_manifest.yaml"
    assert packaged.read_bytes() == (ROOT / "data_manifest.yaml").read_bytes()
