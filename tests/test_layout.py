"""The house rules, checked: one import name, the layers of DESIGN.md, no import cycles.

Static checks read the source with ``ast`` (top-level and function-level imports alike); the
import-name checks run a fresh interpreter outside the checkout, as a user's would be.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "storage", "models", "interpreter", "editing", "pipeline", "flows", "demo", "toyfaces", "assets",
    "annotate",
)  # fmt: skip
OLD_NAMES = PACKAGES
# What each package may import of the others (DESIGN.md: arrows point down the layers).
ALLOWED = {
    "storage": set(),
    "models": set(),
    "interpreter": {"storage", "models"},
    "toyfaces": {"storage", "models", "interpreter"},
    "editing": {"storage", "models", "interpreter"},
    "pipeline": {"storage", "models", "interpreter", "editing"},
    "flows": {"storage", "models", "interpreter", "editing", "pipeline", "demo", "annotate"},
    "demo": {
        "storage",
        "models",
        "interpreter",
        "editing",
        "pipeline",
        "flows",
        "toyfaces",
        "assets",
    },
    "assets": set(),
    "annotate": {"storage", "models", "interpreter", "pipeline"},
}
NO_PREFECT = (
    "storage", "models", "interpreter", "editing", "pipeline", "toyfaces", "assets", "annotate",
)  # fmt: skip


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (REPO / f).rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Absolute module names ``path`` imports anywhere (``from x import y`` gives x and x.y)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["datasetgan", *parts])


def test_every_package_folder_is_installed_under_datasetgan() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {_module_name(p.parent) for f in PACKAGES for p in (REPO / f).rglob("__init__.py")}
    assert found <= listed, "pyproject's [tool.setuptools] packages must list every package folder"
    data = listed - found  # folders of shipped files (models, the studio's page): not code
    assert data <= set(config["setuptools"]["package-data"]), f"{data}: no package-data patterns"
    assert config["setuptools"]["package-dir"] == {f"datasetgan.{f}": f for f in PACKAGES}
    assert set(config["mypy"]["packages"]) == {f"datasetgan.{f}" for f in PACKAGES}


def test_no_code_imports_the_old_top_level_names() -> None:
    bad = [
        f"{p.relative_to(REPO)}: {name}"
        for p in _sources(*PACKAGES, "tests", "benchmarks")
        for name in _imports(p)
        if name.split(".")[0] in OLD_NAMES
    ]
    assert not bad, bad


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_the_layers_below(package: str) -> None:
    bad = []
    for p in _sources(package):
        for name in _imports(p):
            parts = name.split(".")
            other = parts[1] if parts[0] == "datasetgan" and len(parts) > 1 else package
            if other != package and other not in ALLOWED[package]:
                bad.append(f"{p.relative_to(REPO)}: {name}")
    assert not bad, bad


def test_libraries_never_import_prefect_and_flows_never_import_torch() -> None:
    prefect = [
        f"{p.relative_to(REPO)}: {n}"
        for p in _sources(*NO_PREFECT)
        for n in _imports(p)
        if n.split(".")[0] == "prefect"
    ]
    torch = [
        f"{p.relative_to(REPO)}: {n}"
        for p in _sources("flows")
        for n in _imports(p)
        if n.split(".")[0] in ("torch", "safetensors")
    ]
    assert not prefect, prefect
    assert not torch, torch


def _edges(path: Path, modules: set[str]) -> set[str]:
    """Project modules that importing ``path`` runs first: ``from x import y`` is an edge to x.y
    when x.y is a module (a submodule does not wait on its parent package's other imports),
    else to x."""
    edges: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            edges |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            edges |= subs if len(subs) == len(node.names) else {node.module, *subs}
    return edges & modules


def test_no_import_cycles_between_modules() -> None:
    modules = {_module_name(p): p for p in _sources(*PACKAGES)}
    graph = {m: _edges(p, set(modules)) - {m} for m, p in modules.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n] if n in path else [m, n]
            if n not in state and (cycle := visit(n, [*path, n])):
                return cycle
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m, [m])):
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")


def _outside(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter whose working directory is outside the checkout."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )


def test_one_import_name_from_outside_the_checkout(tmp_path: Path) -> None:
    code = (
        "import importlib.util, sys\n"
        "import datasetgan.models.stylegan2, datasetgan.storage, datasetgan.flows.cli\n"
        f"leaked = [n for n in {OLD_NAMES!r} if importlib.util.find_spec(n) is not None]\n"
        "print('leaked', leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = _outside(code, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_runs_without_prefect_loaded(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import datasetgan.pipeline.runs, datasetgan.pipeline.params\n"
        "sys.exit(1 if any(m.split('.')[0] == 'prefect' for m in sys.modules) else 0)\n"
    )
    result = _outside(code, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
