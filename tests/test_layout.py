"""The code is laid out by stage, and no stage imports a stage built on top of it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import unisst_lib

PACKAGE = Path(unisst_lib.__file__).resolve().parent

#: Stage -> the stages it may import (besides itself and ``unisst_lib.__version__``).
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "models": {"core"},
    "sources": {"core", "data"},
    "evaluation": {"core", "data", "models"},
    "views": {"core", "data", "models", "evaluation"},
    "training": {"core", "data", "models", "evaluation", "views"},
    "methods": {"core", "data", "models", "evaluation", "training"},
    "benchmark": {"core", "data", "models", "evaluation", "training", "methods", "views"},
    "notebooks": {
        "core", "data", "models", "sources", "evaluation", "training", "methods", "benchmark",
        "views",
    },
    "cli": {
        "core", "data", "models", "sources", "evaluation", "training", "methods", "benchmark",
        "views", "notebooks",
    },
}  # fmt: skip
STAGES = set(ALLOWED)


def _stage(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, relative imports resolved."""
    module = ".".join(("unisst_lib", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from unisst_lib.data import io` imports unisst_lib.data.io
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, m) for line, m in found if m.startswith("unisst_lib.")]


def _library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_stage_is_a_documented_sub_package():
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert STAGES <= stages
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
        assert doc and "May import" in doc, f"{stage}/__init__.py must say what it may import"
    top_modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert top_modules == {"__init__"}, "library modules belong in a stage's package"


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_stage_imports_upward(path):
    stage = _stage(path)
    allowed = ALLOWED[stage] | {stage}
    bad = []
    for line, module in _imported_modules(path):
        target = module.split(".")[1]
        if target == "__version__":
            continue
        if target not in allowed:
            bad.append(f"line {line}: {module} ({target} is not below {stage})")
    assert not bad, f"{path.relative_to(PACKAGE)} imports upward: {bad}"


def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch):
    # the checker itself can fail: a data module importing training is reported
    fake = PACKAGE / "data" / "_layout_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "from ..training import loop\n")
    assert _imported_modules(fake) == [(1, "unisst_lib.training.loop")]


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_short(path):
    n = len(path.read_text().splitlines())
    assert n <= 600, f"{path.relative_to(PACKAGE)} has {n} lines: split it by job"


def test_public_api_names_resolve():
    for name in unisst_lib.__all__:
        obj = getattr(unisst_lib, name)
        assert obj is not None, name
    assert set(unisst_lib.__all__) <= set(dir(unisst_lib))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        unisst_lib.nonexistent  # noqa: B018


def test_files_the_docs_cite_exist():
    root = PACKAGE.parent
    docs = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    docs += sorted(PACKAGE.rglob("README.md"))
    cited = {
        (doc.name, m)
        for doc in docs
        for m in re.findall(r"unisst_lib/[\w/]+\.(?:py|yaml|pt)", doc.read_text())
    }
    assert cited, "the docs cite no file at all: the pattern is wrong"
    missing = sorted(f"{doc}: {path}" for doc, path in cited if not (root / path).exists())
    assert not missing, f"docs cite files that do not exist: {missing}"
