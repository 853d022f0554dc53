"""ptn: privacy-preserving negotiation between power and transportation network operators.

Why this module exists: it is the one import root of the project. Its subpackages are laid out
in the repository's top-level folders (``pyproject.toml`` maps them): ``ptn.engines``
(``engines/``: numerics), ``ptn.protocol`` (``negotiation/``: the schema's code),
``ptn.services`` (``services/``: the operators), ``ptn.coordinator`` (``coordinator/``: the
negotiation runtime), ``ptn.lab`` (``lab/``: the experimenter's full-information view) and
``ptn.scenarios`` (``scenarios/``: the built-in scenarios).

The Python API (:mod:`ptn.api`) is here: ``ptn.Scenario``, ``ptn.run``, ``ptn.RunResult``,
``ptn.sweep`` (a campaign of many runs, as a DataFrame). It
is imported on first use, so ``import ptn`` stays light (an operator process loads only its own
engines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: the distribution's name on the package registry (``ptn`` there is another project)
DISTRIBUTION = "ptn-negotiation"

if TYPE_CHECKING:
    from ptn.api import RunResult, Scenario, coordinate, run, sweep

    __version__: str

_API = ("RunResult", "Scenario", "coordinate", "run", "sweep")
__all__ = ["DISTRIBUTION", "RunResult", "Scenario", "__version__", "coordinate", "run", "sweep"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from ptn import api

        return getattr(api, name)
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module 'ptn' has no attribute {name!r}")


def _installed_version() -> str:
    """The installed distribution's version, looked up on first use (the package metadata
    scan costs every ``ptn`` process 30 ms, and only ``--version`` and results need it)."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # pragma: no cover - an unbuilt source tree
        return "0+unknown"
