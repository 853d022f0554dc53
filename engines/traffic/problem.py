"""The assignment problem every equilibrium solver in ptn takes: links, and who travels where.

A problem is a set of *links* with cost functions
(:class:`~ptn.engines.traffic.link_costs.LinkCosts`)
and one or more *demand classes*. Each class has its own graph whose arcs each load one link, so
classes share congestion while being restricted to their own routes: gasoline vehicles on the road
graph, electric vehicles on a two-layer graph that forces exactly one charging link
(:mod:`ptn.engines.traffic.charging`), departure shifting on a time-expanded graph
(:mod:`ptn.engines.traffic.multiperiod`). Because link costs are the same functions of total link
flow for every class, the user equilibrium stays the minimiser of one Beckmann function and the
fast single-class algorithms apply to the union of the class graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.network import FloatArray, IntArray, RoadNetwork


@dataclass(frozen=True)
class DemandClass:
    """One class of travellers: its graph (arcs load links) and its OD demand (veh/h)."""

    name: str
    num_nodes: int
    arc_tail: IntArray
    arc_head: IntArray
    arc_link: IntArray
    no_through: NDArray[np.bool_]
    od_origin: IntArray
    od_destination: IntArray
    od_demand: FloatArray
    node_labels: tuple[str, ...] = field(default=(), compare=False)
    #: optional structure for the shortest-path kernels: each node's block (a period copy of a
    #: time-expanded graph, ``>= 0``) or -1 (a generation node fanning out into blocks, or a
    #: shared dead end such as a super-sink); :mod:`ptn.engines.traffic.fan_out` checks it
    node_block: IntArray | None = field(default=None, compare=False)

    def node_label(self, node: int) -> str:
        return self.node_labels[node] if self.node_labels else str(node)

    def with_demand(self, od_demand: FloatArray) -> DemandClass:
        """The same class with another demand vector (same OD pairs)."""
        od_demand = np.asarray(od_demand, dtype=np.float64)
        if od_demand.shape != self.od_demand.shape:
            raise InvalidInputError(
                f"class {self.name}: demand needs {self.od_demand.size} entries, "
                f"got {od_demand.size}"
            )
        return DemandClass(
            self.name,
            self.num_nodes,
            self.arc_tail,
            self.arc_head,
            self.arc_link,
            self.no_through,
            self.od_origin,
            self.od_destination,
            od_demand,
            self.node_labels,
            self.node_block,
        )


@dataclass(frozen=True)
class AssignmentProblem:
    """Links with cost functions plus the demand classes loading them."""

    links: LinkCosts
    classes: tuple[DemandClass, ...]
    link_labels: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.classes:
            raise InvalidInputError("an assignment problem needs at least one demand class")
        for demand_class in self.classes:
            _check_class(demand_class, self.links.num_links)

    @property
    def num_links(self) -> int:
        return self.links.num_links

    @property
    def total_demand(self) -> float:
        return float(sum(c.od_demand.sum() for c in self.classes))

    def with_links(self, links: LinkCosts) -> AssignmentProblem:
        return AssignmentProblem(links, self.classes, self.link_labels)

    def with_fixed_cost(self, fixed_cost: FloatArray) -> AssignmentProblem:
        """The same problem with new money terms on the links (a price change)."""
        return self.with_links(self.links.with_fixed_cost(fixed_cost))

    def link_label(self, link: int) -> str:
        return self.link_labels[link] if self.link_labels else str(link)


def _check_class(demand_class: DemandClass, num_links: int) -> None:
    name = demand_class.name
    n = demand_class.num_nodes
    arcs = demand_class.arc_tail.size
    if demand_class.arc_head.size != arcs or demand_class.arc_link.size != arcs:
        raise InvalidInputError(f"class {name}: arc arrays differ in length")
    if arcs and (min(demand_class.arc_tail.min(), demand_class.arc_head.min()) < 0
                 or max(demand_class.arc_tail.max(), demand_class.arc_head.max()) >= n):
        raise InvalidInputError(f"class {name}: an arc refers to a node outside 0..{n - 1}")
    if arcs and (demand_class.arc_link.min() < 0 or demand_class.arc_link.max() >= num_links):
        raise InvalidInputError(f"class {name}: an arc loads a link outside 0..{num_links - 1}")
    if demand_class.no_through.shape != (n,):
        raise InvalidInputError(f"class {name}: no_through needs one entry per node")
    ods = demand_class.od_demand.size
    if demand_class.od_origin.size != ods or demand_class.od_destination.size != ods:
        raise InvalidInputError(f"class {name}: OD arrays differ in length")
    bad = np.flatnonzero(~np.isfinite(demand_class.od_demand) | (demand_class.od_demand < 0))
    if bad.size:
        od = int(bad[0])
        raise InvalidInputError(
            f"class {name}: OD pair {demand_class.node_label(int(demand_class.od_origin[od]))}->"
            f"{demand_class.node_label(int(demand_class.od_destination[od]))} has invalid demand "
            f"{demand_class.od_demand[od]:g}"
        )


def link_costs_from_network(network: RoadNetwork, value_of_time: float = 1.0) -> LinkCosts:
    """BPR (or constant) link costs of a road network, with its toll and distance terms.

    ``fixed_cost`` is ``value_of_time * (toll_factor * toll + distance_factor * length)``: TNTP's
    factors convert tolls and distances into time units.
    """
    kind = np.where(network.is_flow_dependent(), CostKind.BPR, CostKind.CONSTANT).astype(np.int64)
    constant_time = np.where(network.power == 0.0, network.free_flow_time * (1.0 + network.b),
                             network.free_flow_time)
    free_flow_time = np.where(kind == CostKind.BPR, network.free_flow_time, constant_time)
    return LinkCosts(
        kind=kind,
        free_flow_time=free_flow_time.astype(np.float64),
        capacity=np.where(kind == CostKind.BPR, network.capacity, 1.0).astype(np.float64),
        alpha=network.b.astype(np.float64),
        beta=network.power.astype(np.float64),
        fixed_cost=value_of_time * network.fixed_cost(),
        value_of_time=value_of_time,
    )


def road_class(
    network: RoadNetwork, name: str = "all", demand: FloatArray | None = None
) -> DemandClass:
    """A demand class travelling on the road graph itself (each arc loads its own link)."""
    return DemandClass(
        name=name,
        num_nodes=network.num_nodes,
        arc_tail=network.link_tail.astype(np.int64),
        arc_head=network.link_head.astype(np.int64),
        arc_link=np.arange(network.num_links, dtype=np.int64),
        no_through=network.no_through_nodes(),
        od_origin=network.od_origin.astype(np.int64),
        od_destination=network.od_destination.astype(np.int64),
        od_demand=network.od_demand.copy() if demand is None else np.asarray(demand, np.float64),
        node_labels=tuple(str(label) for label in network.node_ids),
    )


def problem_from_network(network: RoadNetwork, value_of_time: float = 1.0) -> AssignmentProblem:
    """The classic single-class assignment problem of a road network."""
    labels = network.link_labels()
    return AssignmentProblem(
        link_costs_from_network(network, value_of_time), (road_class(network),), labels
    )
