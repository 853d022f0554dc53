"""Helpers shared by the tests (the one module tests import helpers from).

Why this module exists: test modules never import each other; what several need (where the
repository is, loading a development tool that is not installed) lives here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]


def load_development_tool(relative_path: str) -> ModuleType:
    """A script of the repository that is not part of the installed package (e.g.
    ``protos/regenerate.py``), imported by path."""
    path = REPOSITORY / relative_path
    name = "ptn_development_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def package_directories() -> dict[str, Path]:
    """``pyproject.toml``'s mapping of the import packages to repository folders (``ptn`` →
    ``src/ptn``, ``ptn.engines`` → ``engines``, ...)."""
    import tomllib

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = project["tool"]["setuptools"]["package-dir"]
    return {package: REPOSITORY / folder for package, folder in mapping.items()}


def package_tree(target: Path) -> Path:
    """The ``ptn`` package as it installs, made of symbolic links under ``target`` (tools that
    read source trees, such as mypy, need the installed layout); returns ``target``."""
    mapping = package_directories()
    root = target / "ptn"
    root.mkdir(parents=True)
    for entry in mapping["ptn"].iterdir():
        (root / entry.name).symlink_to(entry)
    for package, folder in mapping.items():
        if package != "ptn":
            (target / package.replace(".", "/")).symlink_to(folder, target_is_directory=True)
    return target


def with_settings(scenario: Any, **overrides: Any) -> Any:
    """A scenario (:class:`ptn.scenario.document.Scenario`) with ``[coordinator]`` keys changed
    through the Python API (so its text and fingerprint say so too)."""
    from ptn.api import Scenario

    changed = Scenario(scenario).with_overrides(
        {f"coordinator.{key}": value for key, value in overrides.items()})
    return changed.document
