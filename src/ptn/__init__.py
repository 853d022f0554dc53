"""ptn: privacy-preserving negotiation between power and transportation network operators.

Why this module exists: it is the one import root of the project. Its subpackages are laid out
in the repository's top-level folders (``pyproject.toml`` maps them): ``ptn.engines``
(``engines/``: numerics), ``ptn.protocol`` (``negotiation/``: the schema's generated code),
``ptn.services`` (``services/``: the operators) and ``ptn.coordinator`` (``coordinator/``: the
negotiation runtime and the ``ptn`` command).
"""

from __future__ import annotations

from importlib import metadata

#: the distribution's name on the package registry (``ptn`` there is another project)
DISTRIBUTION = "ptn-negotiation"

try:
    __version__ = metadata.version(DISTRIBUTION)
except metadata.PackageNotFoundError:  # pragma: no cover - imported from an unbuilt source tree
    __version__ = "0+unknown"

__all__ = ["DISTRIBUTION", "__version__"]
