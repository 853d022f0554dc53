"""Networks shipped with ptn, and resolution of a ``--network`` argument to a network.

The built-in Nguyen–Dupuis network is stored as TNTP files (with its literature source in their
header and README) and read by the same reader as any user's TNTP directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.network import RoadNetwork
from ptn.engines.traffic.tntp import read_tntp_network

BUILTIN_NETWORKS = {"nguyen-dupuis": "NguyenDupuis", "twelve-node": "TwelveNode"}


def builtin_network_directory(name: str) -> Path:
    """Directory of a built-in network's TNTP files."""
    if name not in BUILTIN_NETWORKS:
        known = ", ".join(sorted(BUILTIN_NETWORKS))
        raise InvalidInputError(f"unknown built-in network {name!r} (known: {known})")
    return Path(str(resources.files("ptn.engines.traffic") / "data" / BUILTIN_NETWORKS[name]))


def nguyen_dupuis() -> RoadNetwork:
    """The Nguyen–Dupuis network (13 nodes, 19 links) with its classic demand."""
    return read_tntp_network(builtin_network_directory("nguyen-dupuis"))


def load_network(
    spec: str | Path, *, toll_factor: float | None = None, distance_factor: float | None = None,
    time_unit: str = "min",
) -> RoadNetwork:
    """A built-in network by name, or a TNTP directory (or ``*_net.tntp`` file) by path
    (``time_unit``: of its free-flow times, :func:`~ptn.engines.traffic.tntp.read_tntp_network`)."""
    key = str(spec).strip().lower()
    if key in BUILTIN_NETWORKS:
        return read_tntp_network(
            builtin_network_directory(key), toll_factor=toll_factor,
            distance_factor=distance_factor, time_unit=time_unit)
    path = Path(spec)
    if not path.exists():
        known = ", ".join(sorted(BUILTIN_NETWORKS))
        raise InvalidInputError(f"network {spec!s}: no such file or directory (built-in: {known})")
    return read_tntp_network(path, toll_factor=toll_factor, distance_factor=distance_factor,
                             time_unit=time_unit)
