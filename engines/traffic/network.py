"""A road network with its travel demand, as the traffic department holds it.

The representation follows the TNTP conventions (Transportation Networks for Research,
https://github.com/bstabler/TransportationNetworks) because that is what the field's data and
best-known solutions use: BPR links ``t = t0 * (1 + b * (x / c) ** power)``, a generalized cost
``time + toll_factor * toll + distance_factor * length``, zones numbered ``1..num_zones`` and
zones below ``first_thru_node`` that paths may start or end at but not pass through.

Nodes keep their external labels (``node_ids``); arrays index nodes by position in ``node_ids``.
Links are identified by their position (file order), not by their end nodes: parallel links (two
links with the same tail and head, e.g. a road and its service lane) are legal TNTP and each
keeps its own flow. Their ``tail->head`` labels are made unambiguous with the file line (or the
link's position) so that every message names exactly one link.
:func:`validate_network` checks everything a solver relies on and raises
:class:`~ptn.engines.errors.InvalidInputError` naming the bad link, node or OD pair (prefixed
with ``file:line`` when the network was read from a file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RoadNetwork:
    """Links, zones and OD demand of one road network (times in ``time_unit``, flows veh/h)."""

    name: str
    node_ids: IntArray
    num_zones: int
    first_thru_node: int
    link_tail: IntArray
    link_head: IntArray
    capacity: FloatArray
    length: FloatArray
    free_flow_time: FloatArray
    b: FloatArray
    power: FloatArray
    toll: FloatArray
    link_type: IntArray
    od_origin: IntArray
    od_destination: IntArray
    od_demand: FloatArray
    toll_factor: float = 0.0
    distance_factor: float = 0.0
    time_unit: str = "min"
    source: str = ""
    intrazonal_demand: float = 0.0
    node_x: FloatArray | None = field(default=None, compare=False)
    node_y: FloatArray | None = field(default=None, compare=False)
    #: line of each link in ``source`` (for messages), when read from a file
    link_line: IntArray | None = field(default=None, compare=False)

    @property
    def num_nodes(self) -> int:
        return int(self.node_ids.size)

    @property
    def num_links(self) -> int:
        return int(self.link_tail.size)

    @property
    def total_demand(self) -> float:
        return float(self.od_demand.sum())

    def node_index(self, label: int) -> int:
        """Position of the node with external label ``label``."""
        position = int(np.searchsorted(self.node_ids, label))
        if position >= self.node_ids.size or int(self.node_ids[position]) != label:
            raise InvalidInputError(f"{self.name}: unknown node {label}")
        return position

    @cached_property
    def parallel_links(self) -> NDArray[np.bool_]:
        """Links sharing their tail and head with another link."""
        keys = self.link_tail.astype(np.int64) * max(self.num_nodes, 1) + self.link_head
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        return np.asarray(counts[inverse] > 1, dtype=np.bool_)

    def link_label(self, link: int) -> str:
        """Human-readable ``tail->head`` label of link ``link`` in external node labels; a link
        with a parallel twin also gets its file line (or its 1-based position in the link list)."""
        label = f"{self.node_ids[self.link_tail[link]]}->{self.node_ids[self.link_head[link]]}"
        if not self.parallel_links[link]:
            return label
        if self.link_line is not None:
            return f"{label} (line {int(self.link_line[link])})"
        return f"{label} (link #{link + 1})"

    def link_labels(self) -> tuple[str, ...]:
        """:meth:`link_label` of every link, in link order."""
        return tuple(self.link_label(link) for link in range(self.num_links))

    def link_where(self, link: int) -> str:
        """``file:line: `` of link ``link`` when the network was read from a file, else ``""``."""
        if self.link_line is None or not self.source:
            return ""
        return f"{self.source}:{int(self.link_line[link])}: "

    def fixed_cost(self) -> FloatArray:
        """Flow-independent part of the generalized cost, in time units per vehicle."""
        return self.toll_factor * self.toll + self.distance_factor * self.length

    def no_through_nodes(self) -> NDArray[np.bool_]:
        """Nodes that paths may start or end at but not pass through (TNTP zone convention)."""
        return self.node_ids < self.first_thru_node

    def is_flow_dependent(self) -> NDArray[np.bool_]:
        """Links whose travel time depends on their flow: BPR with ``b``, ``power`` and the
        free-flow time all nonzero. A zero free-flow time multiplies the whole BPR term, so such a
        link (TNTP's zone connectors, often written with capacity 0) costs its fixed part only,
        whatever its capacity."""
        return (self.b != 0.0) & (self.power != 0.0) & (self.free_flow_time != 0.0)


#: hours in one time unit of a network's free-flow times (TNTP files: minutes by convention,
#: but some, e.g. Eastern Massachusetts, look like hours: ``[traffic] time_unit`` says which)
HOURS_PER_TIME_UNIT = {"h": 1.0, "hr": 1.0, "hour": 1.0, "hours": 1.0, "min": 1.0 / 60.0,
                       "minute": 1.0 / 60.0, "minutes": 1.0 / 60.0, "s": 1.0 / 3600.0}


def hours_per_unit(time_unit: str, where: str) -> float:
    """Hours in one ``time_unit`` (``InvalidInputError`` naming ``where`` if unknown)."""
    factor = HOURS_PER_TIME_UNIT.get(time_unit.strip().lower())
    if factor is None:
        raise InvalidInputError(f"{where}: unknown time unit {time_unit!r} "
                                f"(known: {', '.join(sorted(HOURS_PER_TIME_UNIT))})")
    return factor


def hours_per_time_unit(network: RoadNetwork) -> float:
    """Hours in one of the network's time units (``"min"`` for TNTP networks by default)."""
    return hours_per_unit(network.time_unit, network.name)


def validate_network(network: RoadNetwork) -> None:
    """Raise :class:`InvalidInputError` naming the first inconsistency a solver would trip on."""
    name = network.name
    hours_per_time_unit(network)
    n = network.num_nodes
    for array_name in ("link_tail", "link_head"):
        array = getattr(network, array_name)
        if array.size and (array.min() < 0 or array.max() >= n):
            raise InvalidInputError(f"{name}: {array_name} refers to a node outside the network")
    for array_name in ("capacity", "length", "free_flow_time", "b", "power", "toll"):
        values = getattr(network, array_name)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            link = int(bad[0])
            raise _link_error(network, link, f"has a non-finite {array_name} {values[link]:g}")
    negative_time = np.flatnonzero(network.free_flow_time < 0)
    if negative_time.size:
        link = int(negative_time[0])
        raise _link_error(network, link,
                          f"has negative free-flow time {network.free_flow_time[link]:g}")
    for array_name in ("b", "power"):
        negative = np.flatnonzero(getattr(network, array_name) < 0)
        if negative.size:
            link = int(negative[0])
            raise _link_error(network, link, f"has negative {array_name} "
                              f"{getattr(network, array_name)[link]:g}")
    bad_capacity = np.flatnonzero(network.is_flow_dependent() & (network.capacity <= 0))
    if bad_capacity.size:
        link = int(bad_capacity[0])
        raise _link_error(
            network, link,
            f"has non-positive capacity {network.capacity[link]:g} but a flow-dependent cost "
            f"(b={network.b[link]:g}, power={network.power[link]:g}; a link of unlimited "
            "capacity needs b = 0 or power = 0)")
    loops = np.flatnonzero(network.link_tail == network.link_head)
    if loops.size:
        raise _link_error(network, int(loops[0]), "is a self-loop")
    bad_demand = np.flatnonzero(~np.isfinite(network.od_demand) | (network.od_demand < 0))
    if bad_demand.size:
        od = int(bad_demand[0])
        raise InvalidInputError(
            f"{name}: OD pair {network.node_ids[network.od_origin[od]]}->"
            f"{network.node_ids[network.od_destination[od]]} has invalid demand "
            f"{network.od_demand[od]:g}"
        )
    _check_od_connectivity(network)


def _link_error(network: RoadNetwork, link: int, text: str) -> InvalidInputError:
    """``[file:line: ]name: link tail->head <text>``: one line naming exactly one link."""
    return InvalidInputError(
        f"{network.link_where(link)}{network.name}: link {network.link_label(link)} {text}")


def _check_od_connectivity(network: RoadNetwork) -> None:
    """Every OD pair with demand must have a path that passes through no zone node; the first
    unreachable pair (smallest origin, then file order) is named."""
    # imported here: the shortest-path kernels' module reads this one's types
    from ptn.engines.traffic.shortest_path import unreachable_od_pairs

    bad = unreachable_od_pairs(network.num_nodes, network.link_tail, network.link_head,
                               network.no_through_nodes(), network.od_origin,
                               network.od_destination)
    if bad.size:
        od = int(bad[np.lexsort((bad, network.od_origin[bad]))[0]])
        raise InvalidInputError(
            f"{network.name}: OD pair {network.node_ids[network.od_origin[od]]}->"
            f"{network.node_ids[network.od_destination[od]]} has demand "
            f"{network.od_demand[od]:g} but no path"
        )
