"""``ptn.scenarios``: the built-in scenarios, one TOML file each (package data).

Why this module exists: ``ptn run NAME`` and ``ptn.Scenario.load(NAME)`` find a scenario by
name wherever ptn is installed; this folder is also where a user of a checkout finds them to
copy and edit. A scenario's name is its file's stem (``pricing-seed001.toml`` is
``pricing-seed001``). ``der/`` holds DER case files for ``ptn opf --der``, not scenarios.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: the scenario ``ptn run`` runs without an argument
DEFAULT = "nguyen-dupuis-ieee33"


def folder() -> Path:
    """The installed folder of the built-in scenarios."""
    return Path(str(resources.files(__name__)))


def names() -> tuple[str, ...]:
    """The built-in scenarios' names, sorted."""
    return tuple(sorted(path.stem for path in folder().glob("*.toml")))


def path(name: str) -> Path | None:
    """The file of a built-in scenario, or None when there is none of that name."""
    candidate = folder() / f"{name}.toml"
    return candidate if name in names() else None
