"""Charging stations in the road network: the traffic department's EV/GV assignment problem.

Why this module exists: the games of MODELS.md §3 need, for given charging prices, the user
equilibrium of gasoline vehicles (GV) and electric vehicles (EV) that must charge once on their
trip, and from it each station's charging flow and load. This module turns a
:class:`~ptn.engines.traffic.network.RoadNetwork` plus :class:`ChargingStation` s into an
:class:`~ptn.engines.traffic.problem.AssignmentProblem` that the fast path-based solver
(:func:`ptn.engines.traffic.path_based.solve_path_based`) solves exactly, and reads the station
quantities back.

Model (MODELS.md §1):

* a station is a *charging link* with Davidson's queueing delay (Davidson 1966, "A flow-travel
  time relationship for use in transportation planning", Proc. 3rd ARRB Conf.):
  ``t = t0 * (1 + J * x / (c - x))`` (the solver's modified, linearly continued form above
  0.95 c), ``t0 = charging_time_h``, plus the money term ``price_per_mwh * energy_per_charge_mwh``;
* generalized cost in dollars: ``value_of_time_per_h * time_h + money``. Road times are converted
  from the network's ``time_unit`` (minutes for TNTP) to hours, and TNTP's toll/distance terms,
  which are in time units, are converted with the same factor;
* network expansion (the construction of He, Yin & Lawphongpanich 2014, "Network equilibrium
  models with battery electric vehicles", Transp. Res. B 67, 306–319, in its "charge exactly
  once" form): GVs travel on the road graph; EVs on a two-layer graph, layer 0 = not yet charged,
  layer 1 = charged, whose road arcs in both layers load the same physical road links, with one
  arc per station from its node in layer 0 to the same node in layer 1 loading the station's
  charging link. EV trips go from the origin in layer 0 to the destination in layer 1, so every
  EV path traverses exactly one charging link and GV paths none.

TNTP's zone rule (zones below ``first_thru_node`` may start or end a path, never be passed
through) is kept structurally rather than with the solver's ``no_through`` flags: each zone node
is split into an *out* node (trips start there; it has the zone's outgoing road arcs) and an
*in* node (trips end there; it receives the zone's incoming road arcs and has no road arc out).
A station at a zone therefore gets two charging arcs, out→out (charging at the trip's origin,
then driving on) and in→in (charging at the trip's destination). The flags could not express
this: a charged vehicle leaving its origin zone passes from layer 0 to layer 1 at that zone.

Link numbering of the problem: road links ``0 .. L-1`` (the network's order), then one charging
link per station ``L .. L+S-1``. Demand vectors are aligned with the network's OD list
(``network.od_origin`` / ``network.od_destination``), in veh/h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.coupling import MAX_ABS_PRICE_PER_MWH
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.network import (
    FloatArray,
    IntArray,
    RoadNetwork,
    hours_per_time_unit,
)
from ptn.engines.traffic.path_based import PathState, solve_path_based
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass, link_costs_from_network
from ptn.engines.traffic.result import AssignmentResult
from ptn.engines.traffic.shortest_path import shortest_path_costs

ENERGY_PER_CHARGE_MWH = 0.045
VALUE_OF_TIME_PER_H = 10.0
GV = "GV"
EV = "EV"

@dataclass(frozen=True)
class ChargingStation:
    """One charging station: a Davidson charging link at a road node, priced per period.

    ``node`` is the node's external label; ``price_per_mwh`` has one entry per period (a scalar
    means one period).
    """

    name: str
    node: int
    capacity_veh_per_h: float
    charging_time_h: float
    davidson_j: float
    price_per_mwh: FloatArray

    def __post_init__(self) -> None:
        prices = np.atleast_1d(np.asarray(self.price_per_mwh, dtype=np.float64))
        object.__setattr__(self, "price_per_mwh", prices)

    @property
    def num_periods(self) -> int:
        return int(self.price_per_mwh.size)


@dataclass(frozen=True)
class ExpandedGraph:
    """A class graph over the road network (one or two layers), before period replication.

    Arc links are local: road link ``a`` is ``a``, station ``s`` is ``num_road_links + s``.
    ``start_node[n]`` / ``end_node[n]`` are where trips from / to road node ``n`` (position in
    ``network.node_ids``) start / end.
    """

    num_nodes: int
    arc_tail: IntArray
    arc_head: IntArray
    arc_link: IntArray
    start_node: IntArray
    end_node: IntArray
    node_labels: tuple[str, ...]


@dataclass(frozen=True)
class ChargingNetworkSpec:
    """A road network with charging stations and the EV energy and time-value parameters."""

    network: RoadNetwork
    stations: tuple[ChargingStation, ...]
    energy_per_charge_mwh: float = ENERGY_PER_CHARGE_MWH
    value_of_time_per_h: float = VALUE_OF_TIME_PER_H

    def __post_init__(self) -> None:
        object.__setattr__(self, "stations", tuple(self.stations))
        _validate_spec(self)

    @property
    def num_stations(self) -> int:
        return len(self.stations)

    @property
    def num_periods(self) -> int:
        return self.stations[0].num_periods

    @property
    def num_road_links(self) -> int:
        return self.network.num_links

    @property
    def station_names(self) -> tuple[str, ...]:
        return tuple(station.name for station in self.stations)

    def station_node_positions(self) -> IntArray:
        """Position in ``network.node_ids`` of each station's node."""
        return np.array([self.network.node_index(s.node) for s in self.stations], dtype=np.int64)

    def price_matrix_per_mwh(self) -> FloatArray:
        """Prices as a (stations, periods) array."""
        return np.stack([station.price_per_mwh for station in self.stations])

    def road_link_costs(self) -> LinkCosts:
        """Road links with times in hours and costs in $ (value of time ``value_of_time_per_h``)."""
        hours = hours_per_time_unit(self.network)
        # value_of_time in $ per network time unit turns TNTP's fixed terms (time units) into $
        base = link_costs_from_network(self.network, self.value_of_time_per_h * hours)
        return LinkCosts(base.kind, base.free_flow_time * hours, base.capacity, base.alpha,
                         base.beta, base.fixed_cost, self.value_of_time_per_h)

    def station_link_costs(self, price_per_mwh: ArrayLike) -> LinkCosts:
        """Davidson charging links (times in h) with money ``price * energy_per_charge`` ($)."""
        prices = self.check_prices(price_per_mwh, periods=None)
        return LinkCosts(
            kind=np.full(self.num_stations, CostKind.DAVIDSON, dtype=np.int64),
            free_flow_time=np.array([s.charging_time_h for s in self.stations], dtype=np.float64),
            capacity=np.array([s.capacity_veh_per_h for s in self.stations], dtype=np.float64),
            alpha=np.array([s.davidson_j for s in self.stations], dtype=np.float64),
            beta=np.zeros(self.num_stations),
            fixed_cost=prices * self.energy_per_charge_mwh,
            value_of_time=self.value_of_time_per_h,
        )

    def check_prices(self, price_per_mwh: ArrayLike, periods: int | None) -> FloatArray:
        """Prices as float array, shape (stations,) or, with ``periods``, (stations, periods);
        negative, non-finite and prices beyond :data:`~ptn.engines.coupling.
        MAX_ABS_PRICE_PER_MWH` are refused naming the station."""
        prices = np.asarray(price_per_mwh, dtype=np.float64)
        shape = (self.num_stations,) if periods is None else (self.num_stations, periods)
        if prices.shape != shape:
            axes = "stations" if periods is None else "stations, periods"
            raise InvalidInputError(
                f"charging prices need shape {shape} ({axes}), got {prices.shape}"
            )
        flat = prices.reshape(self.num_stations, -1)
        bad = np.argwhere(~np.isfinite(flat) | (flat < 0) | (flat > MAX_ABS_PRICE_PER_MWH))
        if bad.size:
            s, t = (int(v) for v in bad[0])
            raise InvalidInputError(
                f"station {self.stations[s].name}: invalid price {flat[s, t]:g} $/MWh"
                + ("" if periods is None else f" in period {t}")
            )
        return prices

    def gv_graph(self) -> ExpandedGraph:
        """The road graph with zone nodes split into out/in nodes (no charging arcs)."""
        return _road_layers(self.network, np.empty(0, dtype=np.int64), self.num_road_links)

    def ev_graph(self) -> ExpandedGraph:
        """The two-layer graph: every path from a start to an end node charges exactly once."""
        return _road_layers(self.network, self.station_node_positions(), self.num_road_links)


def _validate_spec(spec: ChargingNetworkSpec) -> None:
    network = spec.network
    if not np.isfinite(spec.energy_per_charge_mwh) or spec.energy_per_charge_mwh <= 0:
        raise InvalidInputError(
            f"energy_per_charge_mwh must be positive, got {spec.energy_per_charge_mwh}"
        )
    if not np.isfinite(spec.value_of_time_per_h) or spec.value_of_time_per_h <= 0:
        raise InvalidInputError(
            f"value_of_time_per_h must be positive, got {spec.value_of_time_per_h}"
        )
    hours_per_time_unit(network)
    if not spec.stations:
        raise InvalidInputError(f"{network.name}: at least one charging station is needed")
    seen: set[str] = set()
    periods = spec.stations[0].num_periods
    for station in spec.stations:
        name = station.name
        if not name or name in seen:
            raise InvalidInputError(f"station name {name!r} is empty or used twice")
        seen.add(name)
        try:
            network.node_index(int(station.node))
        except InvalidInputError:
            raise InvalidInputError(
                f"station {name}: node {station.node} is not a node of {network.name}"
            ) from None
        for label, value in (("capacity_veh_per_h", station.capacity_veh_per_h),
                             ("charging_time_h", station.charging_time_h)):
            if not np.isfinite(value) or value <= 0:
                raise InvalidInputError(f"station {name}: {label} must be positive, got {value}")
        if not np.isfinite(station.davidson_j) or station.davidson_j < 0:
            raise InvalidInputError(
                f"station {name}: davidson_j must be non-negative, got {station.davidson_j}"
            )
        prices = station.price_per_mwh
        if prices.ndim != 1 or prices.size == 0:
            raise InvalidInputError(f"station {name}: price_per_mwh must be a 1-D array per period")
        bad = np.flatnonzero(~np.isfinite(prices) | (prices < 0))
        if bad.size:
            raise InvalidInputError(
                f"station {name}: invalid price {prices[bad[0]]:g} $/MWh in period {int(bad[0])}"
            )
        if prices.size != periods:
            raise InvalidInputError(
                f"station {name}: {prices.size} price periods, but station "
                f"{spec.stations[0].name} has {periods}"
            )


def _road_layers(
    network: RoadNetwork, station_nodes: IntArray, num_road_links: int
) -> ExpandedGraph:
    """One road layer (no stations) or two layers joined by one charging arc per station."""
    n = network.num_nodes
    zone = network.no_through_nodes()
    zones = np.flatnonzero(zone)
    in_node = np.arange(n, dtype=np.int64)
    in_node[zones] = n + np.arange(zones.size)
    per_layer = n + zones.size
    tail = network.link_tail.astype(np.int64)
    head = in_node[network.link_head]
    link = np.arange(network.num_links, dtype=np.int64)
    base_labels = [str(label) for label in network.node_ids]
    base_labels += [f"{network.node_ids[z]}(in)" for z in zones]
    if station_nodes.size == 0:
        return ExpandedGraph(per_layer, tail, head, link, np.arange(n, dtype=np.int64),
                             in_node, tuple(base_labels))
    station_ids = np.arange(station_nodes.size, dtype=np.int64)
    at_zone = zone[station_nodes]
    charge_tail = np.concatenate([station_nodes, in_node[station_nodes[at_zone]]])
    charge_link = num_road_links + np.concatenate([station_ids, station_ids[at_zone]])
    labels = base_labels + [f"{label}+charged" for label in base_labels]
    return ExpandedGraph(
        num_nodes=2 * per_layer,
        arc_tail=np.concatenate([tail, tail + per_layer, charge_tail]),
        arc_head=np.concatenate([head, head + per_layer, charge_tail + per_layer]),
        arc_link=np.concatenate([link, link, charge_link]),
        start_node=np.arange(n, dtype=np.int64),
        end_node=in_node + per_layer,
        node_labels=tuple(labels),
    )


def check_od_demand(network: RoadNetwork, demand: ArrayLike, what: str) -> FloatArray:
    """Demand aligned with the network's OD list: finite, non-negative, one entry per OD pair."""
    values = np.asarray(demand, dtype=np.float64)
    if values.shape != network.od_demand.shape:
        raise InvalidInputError(
            f"{what}: needs one entry per OD pair of {network.name} "
            f"({network.od_demand.size}), got shape {values.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        od = int(bad[0])
        raise InvalidInputError(
            f"{what}: OD pair {od_label(network, od)} has invalid demand {values[od]:g}"
        )
    return values


def require_demand(network: RoadNetwork, what: str, *demands: FloatArray) -> None:
    """Refuse demand that is zero for every OD pair (and period): an assignment of nothing would
    "converge" with objective 0 and hide a wrong scale, profile or trips file."""
    if not any(float(np.sum(demand)) > 0.0 for demand in demands):
        where = network.source or "built-in network"
        raise InvalidInputError(
            f"{what}: the demand of {network.name} ({where}) is zero for every OD pair"
            f"{' and period' if any(np.ndim(d) > 1 for d in demands) else ''}: there is "
            "nothing to assign")


def od_label(network: RoadNetwork, od: int) -> str:
    """``origin->destination`` of the network's OD pair ``od`` in external node labels."""
    return (f"{network.node_ids[network.od_origin[od]]}->"
            f"{network.node_ids[network.od_destination[od]]}")


def check_reachable(problem: AssignmentProblem, describe: dict[str, list[str]]) -> None:
    """Raise naming the first OD pair with demand but no path in its class graph.

    ``describe[class name][problem OD index within the class]`` is the OD's description.
    """
    graph = compile_graph(problem)
    _, od_cost = shortest_path_costs(graph, np.ones(problem.num_links))
    unreachable = np.flatnonzero(~np.isfinite(od_cost))
    if unreachable.size == 0:
        return
    key = int(graph.od_order[unreachable[0]])
    which = int(np.searchsorted(graph.class_first_od, key, side="right")) - 1
    demand_class = problem.classes[which]
    local = key - int(graph.class_first_od[which])
    what = describe[demand_class.name][local]
    suffix = " through any charging station" if demand_class.name.startswith(EV) else ""
    raise InvalidInputError(
        f"{demand_class.name} OD pair {what} has demand {demand_class.od_demand[local]:g} veh/h "
        f"but no path{suffix}"
    )


def live_paths(state: PathState) -> tuple[IntArray, IntArray]:
    """Path ids referenced by the state's OD chains and each one's problem OD index."""
    paths: list[int] = []
    keys: list[int] = []
    for od in range(state.od_head.size):
        path = int(state.od_head[od])
        key = int(state.od_key[od])
        while path >= 0:
            paths.append(path)
            keys.append(key)
            path = int(state.next[path])
    return np.asarray(paths, dtype=np.int64), np.asarray(keys, dtype=np.int64)


def path_link_entries(state: PathState, paths: IntArray) -> tuple[IntArray, IntArray]:
    """All link entries of ``paths``: (position of the path in ``paths``, link id) per entry."""
    lengths = state.length[paths].astype(np.int64)
    owner = np.repeat(np.arange(paths.size), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    links = state.links[state.start[paths][owner] + offsets].astype(np.int64)
    return owner, links


def class_link_flows(problem: AssignmentProblem, state: PathState) -> dict[str, FloatArray]:
    """Link flows (veh/h) of each demand class, from the solver's path flows."""
    paths, keys = live_paths(state)
    first = np.cumsum([0] + [c.od_demand.size for c in problem.classes])
    path_class = np.searchsorted(first, keys, side="right") - 1
    owner, links = path_link_entries(state, paths)
    weights = state.flow[paths][owner]
    entry_class = path_class[owner]
    flows: dict[str, FloatArray] = {}
    for c, demand_class in enumerate(problem.classes):
        mine = entry_class == c
        flows[demand_class.name] = np.bincount(
            links[mine], weights[mine], minlength=problem.num_links
        ).astype(np.float64)
    return flows


def _class(
    name: str, graph: ExpandedGraph, network: RoadNetwork, demand: FloatArray
) -> DemandClass:
    return DemandClass(
        name=name,
        num_nodes=graph.num_nodes,
        arc_tail=graph.arc_tail,
        arc_head=graph.arc_head,
        arc_link=graph.arc_link,
        no_through=np.zeros(graph.num_nodes, dtype=np.bool_),
        od_origin=graph.start_node[network.od_origin],
        od_destination=graph.end_node[network.od_destination],
        od_demand=demand,
        node_labels=graph.node_labels,
    )


def concatenate_links(parts: Sequence[LinkCosts]) -> LinkCosts:
    """One :class:`LinkCosts` of several blocks (same value of time)."""
    vot = parts[0].value_of_time
    if any(part.value_of_time != vot for part in parts):
        raise InvalidInputError("link blocks with different values of time cannot be joined")
    return LinkCosts(
        kind=np.concatenate([p.kind for p in parts]).astype(np.int64),
        free_flow_time=np.concatenate([p.free_flow_time for p in parts]),
        capacity=np.concatenate([p.capacity for p in parts]),
        alpha=np.concatenate([p.alpha for p in parts]),
        beta=np.concatenate([p.beta for p in parts]),
        fixed_cost=np.concatenate([p.fixed_cost for p in parts]),
        value_of_time=vot,
    )


@dataclass(frozen=True)
class ChargingProblem:
    """The single-period GV/EV assignment problem of a :class:`ChargingNetworkSpec`.

    Classes ``GV`` (road graph) and ``EV`` (two-layer graph); links: road ``0..L-1`` then one
    charging link per station. Prices change with :meth:`with_prices` (same graph, so a previous
    result's ``warm_start`` stays valid).
    """

    spec: ChargingNetworkSpec
    problem: AssignmentProblem
    price_per_mwh: FloatArray
    period: int = 0
    od_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def num_road_links(self) -> int:
        return self.spec.num_road_links

    @property
    def station_links(self) -> IntArray:
        """Link ids of the stations' charging links (station order)."""
        return self.num_road_links + np.arange(self.spec.num_stations, dtype=np.int64)

    def with_prices(self, price_per_mwh: ArrayLike) -> ChargingProblem:
        """The same problem with new station prices ($/MWh, one per station)."""
        prices = self.spec.check_prices(price_per_mwh, periods=None)
        fixed = self.problem.links.fixed_cost.copy()
        fixed[self.station_links] = prices * self.spec.energy_per_charge_mwh
        return ChargingProblem(self.spec, self.problem.with_fixed_cost(fixed), prices,
                               self.period, self.od_names)

    def solve(self, *, gap: float = 1e-10, max_iterations: int = 1000,
              warm_start: AssignmentResult | PathState | None = None) -> AssignmentResult:
        """User equilibrium by :func:`solve_path_based` (``warm_start``: a previous result)."""
        state = warm_start.warm_start if isinstance(warm_start, AssignmentResult) else warm_start
        return solve_path_based(self.problem, gap=gap, max_iterations=max_iterations,
                                warm_start=state)

    def station_flow_veh_per_h(self, result: AssignmentResult) -> FloatArray:
        """Charging flow of each station (veh/h)."""
        return np.asarray(result.link_flow[self.station_links], dtype=np.float64)

    def station_load_mw(self, result: AssignmentResult) -> FloatArray:
        """Charging load of each station: flow (veh/h) x energy per charge (MWh) = MW."""
        return self.station_flow_veh_per_h(result) * self.spec.energy_per_charge_mwh

    def road_link_flow_veh_per_h(self, result: AssignmentResult) -> FloatArray:
        """Total (GV + EV) flow on each road link."""
        return np.asarray(result.link_flow[: self.num_road_links], dtype=np.float64)

    def class_road_link_flows(self, result: AssignmentResult) -> dict[str, FloatArray]:
        """Road link flows of ``GV`` and ``EV`` separately (from the solver's path flows)."""
        flows = class_link_flows(self.problem, result.warm_start)
        return {name: flow[: self.num_road_links] for name, flow in flows.items()}


def build_charging_problem(
    spec: ChargingNetworkSpec,
    gv_demand_veh_per_h: ArrayLike,
    ev_demand_veh_per_h: ArrayLike,
    *,
    period: int = 0,
    allow_no_demand: bool = False,
) -> ChargingProblem:
    """The GV/EV assignment problem at the stations' prices of ``period``.

    Demands are aligned with ``spec.network``'s OD list. Raises :class:`InvalidInputError` naming
    the OD pair when a class has demand but no path (for EVs: none through any station), and
    when both demands are zero everywhere unless ``allow_no_demand`` (one quiet period of a day
    whose other periods have demand).
    """
    network = spec.network
    if not 0 <= period < spec.num_periods:
        raise InvalidInputError(
            f"period {period} is outside the stations' {spec.num_periods} price periods"
        )
    gv = check_od_demand(network, gv_demand_veh_per_h, "GV demand")
    ev = check_od_demand(network, ev_demand_veh_per_h, "EV demand")
    if not allow_no_demand:
        require_demand(network, "charging problem", gv, ev)
    prices = spec.price_matrix_per_mwh()[:, period]
    links = concatenate_links([spec.road_link_costs(), spec.station_link_costs(prices)])
    labels = network.link_labels()
    labels += tuple(f"station {name}" for name in spec.station_names)
    problem = AssignmentProblem(
        links,
        (_class(GV, spec.gv_graph(), network, gv), _class(EV, spec.ev_graph(), network, ev)),
        labels,
    )
    names = [od_label(network, od) for od in range(network.od_demand.size)]
    check_reachable(problem, {GV: names, EV: names})
    return ChargingProblem(spec, problem, prices, period, tuple(names))
