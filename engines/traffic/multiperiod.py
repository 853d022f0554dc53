"""Multi-period user equilibrium with departure-time shifting and elastic EV demand (MUL-UE).

Why this module exists: the traffic department of seed 001 (Lu, Yang, Cui, Du, Tian & Hu 2024,
"Optimal pricing strategies for distribution system operator in coupled power-transportation
system", Front. Energy Res. 11:1343311, model MUL-UE, MODELS.md §1) answers every price probe
of the DSO/CNO game with the stations' charging loads per period. Its model:

* periods ``t = 0..T-1``; GV and EV demand per OD pair and period (veh/h);
* demand generated in period ``ti`` may depart in ``tj`` with ``|ti - tj| <= M`` at a shift cost
  ``shift_cost_per_period * |ti - tj|`` ($/veh, 3 in seed 001); ``sum_j q_{ti->tj} = d_ti``;
* EV demand responds to the mean charging price of the period:
  ``d_t = d_t^ori * (1 - sigma_t * kappa_t)``, ``kappa_t = (mean_s alpha_st - C_base) / C_base``,
  ``sigma_t = 1.5``. **(choice)** The factor is clipped at 0 (prices so high that the linear law
  would give negative demand give none); below ``C_base`` demand rises above ``d^ori``, as the
  linear law says. For fixed prices the demand is exogenous, so the problem stays one convex
  (Beckmann plus linear shift and price terms) program.

Implementation: ONE static user equilibrium on a time-expanded network, so the fast exact
path-based solver (:func:`ptn.engines.traffic.path_based.solve_path_based`) and its warm start
serve:

* a copy of the charging-expanded class graphs (:mod:`ptn.engines.traffic.charging`) per
  period whose road and charging links are separate physical links per period (congestion does
  not cross periods): link ``t * (L + S) + a`` is road link ``a`` in period ``t``,
  ``t * (L + S) + L + s`` station ``s`` in period ``t``;
* per class, a *generation* node per (origin, generation period ``ti``) with constant-cost
  virtual *shift* links into the origin of every departure-period copy ``tj`` within reach (one
  physical link per class, origin, ``ti``, ``tj``, so its flow is that origin's ``q_{ti->tj}``);
* a per-destination super-sink reached from the destination in every period copy by one shared
  zero-cost link.

OD pair ``(o, d)`` of generation period ``ti`` is the problem OD ``ti * num_od + k`` of its class
(``k`` = position in the network's OD list): origin = generation node, destination = sink.
Re-solving with other prices (and hence other EV demand) keeps the graph, so the previous path
state is a valid warm start; the solver rescales path flows to the new demand.

Seed 003's traffic (Sadhu et al. 2022) adds two options, both off by default: residual flow
carried from one period to the next (``residual_share``, eq. 1.e,
:mod:`ptn.engines.traffic.residual_flow`: the GV class's demand of a period is its new trips plus
the vehicles carried in), and EV classes with their own energy needs (``ev_classes``, eqs.
1.g–1.h, :mod:`ptn.engines.traffic.ev_classes`: one EV class per entry, after the GV class, whose
graph passes a station's charging link once per charging block it needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.coupling import CouplingSide, CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.charging import (
    EV,
    GV,
    ChargingNetworkSpec,
    ExpandedGraph,
    check_reachable,
    class_link_flows,
    concatenate_links,
    live_paths,
    od_label,
    path_link_entries,
    require_demand,
)
from ptn.engines.traffic.ev_classes import EvClass, chain_charging_arcs, check_ev_classes
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.link_costs import CostKind, LinkCosts
from ptn.engines.traffic.network import FloatArray, IntArray, RoadNetwork
from ptn.engines.traffic.path_based import (
    MAX_KERNEL_MAGNITUDE,
    PathState,
    StopTest,
    solve_path_based,
)
from ptn.engines.traffic.problem import AssignmentProblem, DemandClass
from ptn.engines.traffic.residual_flow import ResidualFlow, carry_over, check_residual_share
from ptn.engines.traffic.result import AssignmentResult, AssignmentStatus
from ptn.engines.traffic.shortest_path import shortest_path_costs

#: the relative gap a re-solve stopping on its station loads (``station_load_tolerance_mw``)
#: must also have reached: the loads' change per iteration says little before the solver's
#: Newton tail (below 1e-4) has settled the path sets
LOAD_STOP_MAX_GAP = 1e-6

SHIFT_COST_PER_PERIOD = 3.0
PRICE_SENSITIVITY = 1.5
BASE_PRICE_PER_MWH = 200.0
CLASSES = (GV, EV)


@dataclass(frozen=True)
class MultiPeriodSpec:
    """Everything MUL-UE needs besides the prices (which the stations carry as defaults).

    Demands have shape (periods, OD pairs of ``charging.network``), in veh/h; the EV demand is
    the original one, before the price response. ``price_sensitivity`` is sigma_t (scalar or one
    per period); ``base_price_per_mwh`` is C_base **(choice: 200 $/MWh, the middle of seed 001's
    CNO price range [150, 250])**; ``max_shift_periods`` is M **(choice: 1; seed 001 leaves it
    open)**. ``residual_share`` (one value or one per period, in [0, 1); default 0, none) is the
    share of the vehicles on the network in a period that have not finished their trip by its
    end and are carried into the next (seed 003's semi-dynamic assignment, eq. 1.e,
    :mod:`ptn.engines.traffic.residual_flow`); it needs ``max_shift_periods = 0``.
    ``ev_classes`` (default none: one EV class charging ``energy_per_charge_mwh``) splits the
    EV demand into classes by share, each charging a whole number of the charging network's
    blocks of ``energy_per_charge_mwh`` (seed 003's 1.g–1.h, :mod:`ptn.engines.traffic.
    ev_classes`).
    """

    charging: ChargingNetworkSpec
    gv_demand_veh_per_h: FloatArray
    ev_demand_veh_per_h: FloatArray
    max_shift_periods: int = 1
    shift_cost_per_period: float = SHIFT_COST_PER_PERIOD
    price_sensitivity: FloatArray | float = PRICE_SENSITIVITY
    base_price_per_mwh: float = BASE_PRICE_PER_MWH
    residual_share: FloatArray | float = 0.0
    ev_classes: tuple[EvClass, ...] = ()

    def __post_init__(self) -> None:
        network = self.charging.network
        gv = check_period_demand(network, self.gv_demand_veh_per_h, "GV demand")
        ev = check_period_demand(network, self.ev_demand_veh_per_h, "EV demand")
        if gv.shape != ev.shape:
            raise InvalidInputError(
                f"GV demand has {gv.shape[0]} periods but EV demand {ev.shape[0]}"
            )
        require_demand(network, "multi-period problem", gv, ev)
        periods = gv.shape[0]
        for station in self.charging.stations:
            if station.num_periods != periods:
                raise InvalidInputError(
                    f"station {station.name}: {station.num_periods} price periods, "
                    f"but the demand has {periods}"
                )
        if int(self.max_shift_periods) != self.max_shift_periods or self.max_shift_periods < 0:
            raise InvalidInputError(
                f"max_shift_periods must be a non-negative integer, got {self.max_shift_periods}"
            )
        if not np.isfinite(self.shift_cost_per_period) or self.shift_cost_per_period < 0:
            raise InvalidInputError(
                f"shift_cost_per_period must be non-negative, got {self.shift_cost_per_period}"
            )
        sigma = np.broadcast_to(np.asarray(self.price_sensitivity, dtype=np.float64), (periods,))
        if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
            raise InvalidInputError(
                f"price_sensitivity must be non-negative, one value or one per period "
                f"({periods}), got {self.price_sensitivity}"
            )
        if not np.isfinite(self.base_price_per_mwh) or self.base_price_per_mwh <= 0:
            raise InvalidInputError(
                f"base_price_per_mwh must be positive, got {self.base_price_per_mwh}"
            )
        residual = check_residual_share(self.residual_share, periods)
        if np.any(residual > 0) and self.max_shift_periods != 0:
            raise InvalidInputError(
                "residual_share: the residual flow is carried between the periods vehicles "
                "depart in, so it needs max_shift_periods = 0 (got "
                f"{self.max_shift_periods})"
            )
        object.__setattr__(self, "gv_demand_veh_per_h", gv)
        object.__setattr__(self, "ev_demand_veh_per_h", ev)
        object.__setattr__(self, "price_sensitivity", sigma.copy())
        object.__setattr__(self, "max_shift_periods", int(self.max_shift_periods))
        object.__setattr__(self, "residual_share", residual)
        object.__setattr__(self, "ev_classes", tuple(self.ev_classes))
        check_ev_classes(self.ev_classes, self.charging.energy_per_charge_mwh)

    @property
    def num_periods(self) -> int:
        return int(self.gv_demand_veh_per_h.shape[0])

    @property
    def class_names(self) -> tuple[str, ...]:
        """The demand classes: ``GV``, then ``EV`` or one ``EV:<name>`` per EV class."""
        if not self.ev_classes:
            return CLASSES
        return (GV, *(f"{EV}:{c.name}" for c in self.ev_classes))

    @property
    def ev_blocks(self) -> tuple[int, ...]:
        """Charging blocks of each EV class (1 for the single EV class)."""
        return check_ev_classes(self.ev_classes, self.charging.energy_per_charge_mwh) \
            if self.ev_classes else (1,)

    @property
    def ev_shares(self) -> tuple[float, ...]:
        return tuple(c.share for c in self.ev_classes) if self.ev_classes else (1.0,)

    def ev_blocks_veh_per_h(self, ev_demand_veh_per_h: FloatArray | None = None) -> FloatArray:
        """Charging blocks per hour the EV demand (default: the original one) needs: what the
        stations' capacities, in blocks, are measured against (the EV demand itself without
        EV classes)."""
        ev = self.ev_demand_veh_per_h if ev_demand_veh_per_h is None else ev_demand_veh_per_h
        if not self.ev_classes:
            return ev
        return ev * float(np.dot(self.ev_shares, self.ev_blocks))

    @property
    def has_residual_flow(self) -> bool:
        return bool(np.any(np.asarray(self.residual_share) > 0))

    def residual_flow(self, ev_demand_veh_per_h: FloatArray | None = None) -> ResidualFlow:
        """The residual flow carried between periods when the EVs' new trips are
        ``ev_demand_veh_per_h`` (default: the original EV demand)."""
        ev = self.ev_demand_veh_per_h if ev_demand_veh_per_h is None else ev_demand_veh_per_h
        return carry_over(self.gv_demand_veh_per_h, ev, np.asarray(self.residual_share))

    def ev_demand_at(self, price_per_mwh: ArrayLike) -> FloatArray:
        """EV demand (periods, OD pairs) at prices of shape (stations, periods)."""
        prices = self.charging.check_prices(price_per_mwh, periods=self.num_periods)
        return self.ev_demand_veh_per_h * demand_factor(
            prices, np.asarray(self.price_sensitivity), self.base_price_per_mwh
        )[:, None]


def demand_factor(
    price_per_mwh: FloatArray, price_sensitivity: FloatArray, base_price_per_mwh: float
) -> FloatArray:
    """Per period ``max(0, 1 - sigma_t * kappa_t)``, ``kappa_t = (mean_s price - C_base) / C_base``.

    ``price_per_mwh`` has shape (stations, periods).
    """
    kappa = (price_per_mwh.mean(axis=0) - base_price_per_mwh) / base_price_per_mwh
    return np.asarray(np.maximum(0.0, 1.0 - price_sensitivity * kappa), dtype=np.float64)


def check_period_demand(network: RoadNetwork, demand: ArrayLike, what: str) -> FloatArray:
    """Demand of shape (periods, OD pairs of ``network``), finite and non-negative (veh/h)."""
    values = np.asarray(demand, dtype=np.float64)
    num_od = network.od_demand.size
    if values.ndim != 2 or values.shape[1] != num_od or values.shape[0] < 1:
        raise InvalidInputError(
            f"{what}: needs shape (periods, {num_od} OD pairs of {network.name}), "
            f"got {values.shape}"
        )
    bad = np.argwhere(~np.isfinite(values) | (values < 0))
    if bad.size:
        t, od = (int(v) for v in bad[0])
        raise InvalidInputError(
            f"{what}: OD pair {od_label(network, od)} in period {t} has invalid demand "
            f"{values[t, od]:g}"
        )
    return values


def check_coupling(charging: ChargingNetworkSpec, periods: int,
                   coupling: CouplingTerms) -> CouplingTerms:
    """ADMM's coupling terms for the traffic side (the consuming side: it pays λ), aligned to
    the stations' order; λ may be negative (a dual price). Its models are rates ($/h per
    period), so they take the terms' rate form (``s·λ``, ρ, z), not Δt."""
    who = "the traffic model"
    aligned = coupling.aligned(charging.station_names, periods, who)
    aligned.require_side(CouplingSide.CONSUMER, who)
    return aligned


def with_admm_station_terms(
    links: LinkCosts,
    station_links: IntArray,
    price_per_mwh: FloatArray,
    penalty_per_mw2: float,
    target_mw: FloatArray,
    energy_per_charge_mwh: float,
) -> LinkCosts:
    """``links`` with ADMM's ``λ·P + (ρ/2)·(P − z)²`` on the charging links ``station_links``.

    ``price_per_mwh`` (λ) and ``target_mw`` (z) have the shape of ``station_links``; ``P = E_B·x``
    is the link's load (MW). The term's flow derivative ``E_B·(λ − ρ·z) + ρ·E_B²·x`` becomes the
    link's fixed money term plus its Davidson linear ``beta`` term (in time units, hence the
    division by the value of time). One constant added to every charging link keeps all link
    costs non-negative (as Dijkstra needs); since every EV path uses exactly one charging link
    and GV paths none, it changes neither a UE nor a logit SUE (nor the argmin of their
    potentials, which it shifts by a constant). Shared by the UE
    (:meth:`MultiPeriodProblem.coupled_problem_at`) and SUE (:mod:`ptn.engines.traffic.sue_periods`)
    traffic models, so both take the same ADMM step.
    """
    money = energy_per_charge_mwh * (price_per_mwh - penalty_per_mw2 * target_mw)
    slope = penalty_per_mw2 * energy_per_charge_mwh**2 / links.value_of_time
    # the compiled kernels (UE and SUE) take these as they are: refuse what would overflow them
    for name, values in (("money term", money), ("penalty slope", np.atleast_1d(slope))):
        bad = np.argwhere(~np.isfinite(values) | (np.abs(values) > MAX_KERNEL_MAGNITUDE))
        if bad.size:
            raise InvalidInputError(f"ADMM station terms: the charging links' {name} "
                                    f"{float(values[tuple(bad[0])]):g} is not finite or beyond "
                                    f"±{MAX_KERNEL_MAGNITUDE:g}")
    free_flow_cost = links.value_of_time * links.free_flow_time[station_links]
    offset = max(0.0, -float(np.min(free_flow_cost + money)))
    fixed = links.fixed_cost.copy()
    fixed[station_links] = money + offset
    beta = links.beta.copy()
    beta[station_links] = slope
    return replace(links, fixed_cost=fixed, beta=beta)


@dataclass(frozen=True)
class ShiftLinks:
    """The virtual shift links: class index, origin (node position), ti and tj per link."""

    first_link: int
    class_index: IntArray
    origin: IntArray
    from_period: IntArray
    to_period: IntArray

    @property
    def links(self) -> IntArray:
        return self.first_link + np.arange(self.class_index.size, dtype=np.int64)


def _expanded_class(
    name: str,
    graph: ExpandedGraph,
    network: RoadNetwork,
    periods: int,
    block: int,
    origins: IntArray,
    destinations: IntArray,
    shift_origin_index: IntArray,
    shift_from: IntArray,
    shift_to: IntArray,
    shift_link: IntArray,
    sink_link: int,
    demand: FloatArray,
) -> DemandClass:
    """One class's time-expanded graph: period copies, generation nodes, super-sinks."""
    per_copy = graph.num_nodes
    copy_offset = (np.arange(periods, dtype=np.int64) * per_copy)[:, None]
    generation_base = periods * per_copy
    sink_base = generation_base + origins.size * periods
    num_nodes = sink_base + destinations.size
    generation = generation_base + shift_origin_index * periods + shift_from
    departure = graph.start_node[origins[shift_origin_index]] + shift_to * per_copy
    sink_tail = (graph.end_node[destinations][None, :] + copy_offset).ravel()
    sink_head = np.tile(sink_base + np.arange(destinations.size, dtype=np.int64), periods)
    arc_tail = np.concatenate([(graph.arc_tail[None, :] + copy_offset).ravel(), generation,
                               sink_tail])
    arc_head = np.concatenate([(graph.arc_head[None, :] + copy_offset).ravel(), departure,
                               sink_head])
    arc_link = np.concatenate([
        (graph.arc_link[None, :] + (np.arange(periods, dtype=np.int64) * block)[:, None]).ravel(),
        shift_link,
        np.full(sink_tail.size, sink_link, dtype=np.int64),
    ])
    origin_index = np.searchsorted(origins, network.od_origin)
    destination_index = np.searchsorted(destinations, network.od_destination)
    period_of_od = np.repeat(np.arange(periods, dtype=np.int64), network.od_demand.size)
    labels = [f"t{t}:{label}" for t in range(periods) for label in graph.node_labels]
    labels += [f"gen {network.node_ids[o]}@t{t}" for o in origins for t in range(periods)]
    labels += [f"sink {network.node_ids[d]}" for d in destinations]
    return DemandClass(
        name=name,
        num_nodes=num_nodes,
        arc_tail=arc_tail,
        arc_head=arc_head,
        arc_link=arc_link,
        no_through=np.zeros(num_nodes, dtype=np.bool_),
        od_origin=generation_base + np.tile(origin_index, periods) * periods + period_of_od,
        od_destination=sink_base + np.tile(destination_index, periods),
        od_demand=demand.ravel().copy(),
        node_labels=tuple(labels),
        # period copies are blocks; generation nodes and super-sinks are not (-1)
        node_block=np.concatenate([np.repeat(np.arange(periods, dtype=np.int64), per_copy),
                                   np.full(num_nodes - generation_base, -1, dtype=np.int64)]),
    )


@dataclass(frozen=True)
class MultiPeriodProblem:
    """The time-expanded assignment problem of a :class:`MultiPeriodSpec` and its index maps."""

    spec: MultiPeriodSpec
    problem: AssignmentProblem
    shift: ShiftLinks
    sink_link: int

    @property
    def num_periods(self) -> int:
        return self.spec.num_periods

    @property
    def block(self) -> int:
        """Physical links per period (road links + charging links)."""
        return self.spec.charging.num_road_links + self.spec.charging.num_stations

    def station_links(self) -> IntArray:
        """Link ids of the charging links, shape (periods, stations)."""
        charging = self.spec.charging
        periods = np.arange(self.num_periods, dtype=np.int64)[:, None] * self.block
        return periods + charging.num_road_links + np.arange(charging.num_stations)

    def problem_at(self, price_per_mwh: ArrayLike) -> AssignmentProblem:
        """The assignment problem at prices (stations, periods): money terms and EV demand."""
        charging = self.spec.charging
        prices = charging.check_prices(price_per_mwh, periods=self.num_periods)
        fixed = self.problem.links.fixed_cost.copy()
        fixed[self.station_links()] = prices.T * charging.energy_per_charge_mwh
        gv_class, *ev_classes = self.problem.classes
        ev_demand = self.spec.ev_demand_at(prices)
        ev_classes = [ev_class.with_demand(share * ev_demand.ravel())
                      for ev_class, share in zip(ev_classes, self.spec.ev_shares, strict=True)]
        if self.spec.has_residual_flow:  # carried EVs join the next period's GV class
            gv_class = gv_class.with_demand(
                self.spec.residual_flow(ev_demand).assigned_gv_veh_per_h.ravel())
        return AssignmentProblem(self.problem.links.with_fixed_cost(fixed),
                                 (gv_class, *ev_classes), self.problem.link_labels)

    def coupled_problem_at(self, coupling: CouplingTerms) -> AssignmentProblem:
        """The problem with ADMM's augmented-Lagrangian terms on the station loads.

        Per period (a rate in $/h) the traffic side pays ``λ_st·P_st + (ρ/2)·(P_st − z_st)²`` on
        top of its Beckmann potential, ``P_st = E_B·x_st`` the station's load (MW): the rate
        form of the consuming side's :class:`~ptn.engines.coupling.CouplingTerms`. Its flow
        derivative ``E_B·(λ − ρ·z) + ρ·E_B²·x`` is a charging link's fixed money term plus the
        Davidson link's linear ``beta`` term (:mod:`ptn.engines.traffic.link_costs`), so the solver
        and its warm start serve unchanged. Prices may be negative (a dual price); every EV path
        uses exactly one charging link, so one constant added to all of them keeps every link
        cost non-negative (as Dijkstra needs) without changing the equilibrium. EV demand must be
        inelastic here (``price_sensitivity`` 0): the mean-price demand law has no potential.
        """
        charging = self.spec.charging
        terms = check_coupling(charging, self.num_periods, coupling)
        if np.any(np.asarray(self.spec.price_sensitivity) != 0):
            raise InvalidInputError(
                "ADMM coordination needs inelastic EV demand (price_sensitivity = 0)"
            )
        coupled = with_admm_station_terms(self.problem.links, self.station_links(),
                                          terms.signed_price_per_mwh.T, terms.penalty_per_mw2h,
                                          terms.target_load_mw.T, charging.energy_per_charge_mwh)
        return AssignmentProblem(coupled, self.problem.classes, self.problem.link_labels)

    def solve_coupled(
        self,
        coupling: CouplingTerms,
        *,
        gap: float = 1e-10,
        max_iterations: int = 1000,
        warm_start: MultiPeriodResult | PathState | None = None,
    ) -> MultiPeriodResult:
        """The traffic side's ADMM step (:meth:`coupled_problem_at`), equilibrated exactly.

        The result's ``total_cost`` is that of the coupled problem and its ``price_per_mwh`` is
        λ (stations, periods); the Beckmann potential without the coupling terms is
        :meth:`potential`.
        """
        problem = self.coupled_problem_at(coupling)
        prices = check_coupling(self.spec.charging, self.num_periods, coupling).price_per_mwh
        return self._equilibrate(np.array(prices), problem, gap, max_iterations, warm_start)

    def potential(self, link_flow: FloatArray) -> float:
        """Beckmann potential ($/h summed over periods) without any charging money terms.

        Travel-time integrals (value of time included), departure-shift costs and the road
        network's own money terms (tolls, distance); what the traffic side's cost is in the
        joint minimum-cost problem (MODELS.md §5), where charging payments are transfers.
        """
        return self.unpriced_problem().links.beckmann(np.asarray(link_flow, dtype=np.float64))

    def unpriced_problem(self) -> AssignmentProblem:
        """The time-expanded problem with no charging money terms (its Beckmann function is
        :meth:`potential`)."""
        fixed = self.problem.links.fixed_cost.copy()
        fixed[self.station_links()] = 0.0
        return self.problem.with_fixed_cost(fixed)

    def solve(
        self,
        price_per_mwh: ArrayLike | None = None,
        *,
        gap: float = 1e-10,
        max_iterations: int = 1000,
        warm_start: MultiPeriodResult | AssignmentResult | PathState | None = None,
        station_load_tolerance_mw: float | None = None,
    ) -> MultiPeriodResult:
        """MUL-UE at ``price_per_mwh`` (stations, periods; default: the stations' own prices).

        ``warm_start`` is a previous result of this problem (at any prices). With
        ``station_load_tolerance_mw`` the solve also stops (status converged) once no station's
        load moved by more than that in an iteration and the relative gap is below
        :data:`LOAD_STOP_MAX_GAP`: the quantity the traffic department answers with, rather
        than the global ``gap`` over all traffic.
        """
        prices = (self.spec.charging.price_matrix_per_mwh() if price_per_mwh is None
                  else self.spec.charging.check_prices(price_per_mwh, periods=self.num_periods))
        stop = None if station_load_tolerance_mw is None \
            else self.station_load_stop(station_load_tolerance_mw)
        return self._equilibrate(prices, self.problem_at(prices), gap, max_iterations,
                                 warm_start, stop)

    def station_load_stop(self, tolerance_mw: float) -> StopTest:
        """A solver stop test: true once no station load moved by more than ``tolerance_mw``
        (MW) since the previous iteration and the gap is below :data:`LOAD_STOP_MAX_GAP`."""
        if not np.isfinite(tolerance_mw) or tolerance_mw <= 0:
            raise InvalidInputError(f"station_load_tolerance_mw must be positive, got "
                                    f"{tolerance_mw}")
        links = self.station_links()
        energy = self.spec.charging.energy_per_charge_mwh
        previous: list[FloatArray] = []

        def stop(link_flow: FloatArray, relative_gap: float) -> bool:
            load = link_flow[links] * energy
            moved = float(np.abs(load - previous[0]).max(initial=0.0)) if previous else np.inf
            previous[:] = [load]
            return moved <= tolerance_mw and relative_gap <= LOAD_STOP_MAX_GAP

        return stop

    def result_at(self, price_per_mwh: ArrayLike, assignment: AssignmentResult,
                  od_cost: dict[str, FloatArray] | None = None) -> MultiPeriodResult:
        """The result of an equilibrium of :meth:`problem_at` ``(price_per_mwh)`` solved
        elsewhere (e.g. in a worker process, which sends its ``od_cost`` along: they take a
        shortest-path pass over all origins)."""
        prices = self.spec.charging.check_prices(price_per_mwh, periods=self.num_periods)
        return self._result(prices, self.problem_at(prices), assignment, od_cost)

    def _equilibrate(
        self,
        prices: FloatArray,
        problem: AssignmentProblem,
        gap: float,
        max_iterations: int,
        warm_start: MultiPeriodResult | AssignmentResult | PathState | None,
        stop: StopTest | None = None,
    ) -> MultiPeriodResult:
        """The exact equilibrium of one of this problem's variants, warm-started."""
        state: PathState | None
        if isinstance(warm_start, MultiPeriodResult | AssignmentResult):
            state = warm_start.warm_start
        else:
            state = warm_start
        if problem.total_demand <= 0:
            return self._result(prices, problem, _empty_result(problem))
        result = solve_path_based(problem, gap=gap, max_iterations=max_iterations,
                                  warm_start=state, stop=stop)
        return self._result(prices, problem, result)

    def _result(self, prices: FloatArray, problem: AssignmentProblem,
                result: AssignmentResult,
                od_cost: dict[str, FloatArray] | None = None) -> MultiPeriodResult:
        charging = self.spec.charging
        periods = self.num_periods
        road = charging.num_road_links
        per_period = result.link_flow[: periods * self.block].reshape(periods, self.block)
        station_flow = per_period[:, road:].copy()
        shifted = {}
        shift_flow = result.link_flow[self.shift.links]
        names = self.spec.class_names
        for c, name in enumerate(names):
            matrix = np.zeros((periods, periods))
            mine = self.shift.class_index == c
            np.add.at(matrix, (self.shift.from_period[mine], self.shift.to_period[mine]),
                      shift_flow[mine])
            shifted[name] = matrix
        num_od = charging.network.od_demand.size
        known = od_cost is not None
        if od_cost is None:
            od_cost = {name: np.full((periods, num_od), np.nan) for name in names}
        if not known and result.link_flow.size and problem.total_demand > 0:
            graph = compile_graph(problem)
            cost = result.od_cost
            if cost is None or cost.size != graph.num_ods:
                _, cost = shortest_path_costs(graph, result.link_cost)
            first = graph.class_first_od
            for c, name in enumerate(names):
                mine = (graph.od_order >= first[c]) & (graph.od_order < first[c + 1])
                flat = od_cost[name].reshape(-1)
                flat[graph.od_order[mine] - first[c]] = cost[mine]
        ev_demand = np.sum([c.od_demand for c in problem.classes[1:]], axis=0).reshape(
            periods, num_od)
        return MultiPeriodResult(
            assignment=result,
            price_per_mwh=prices,
            gv_demand_veh_per_h=self.spec.gv_demand_veh_per_h,
            ev_demand_veh_per_h=ev_demand,
            station_flow_veh_per_h=station_flow,
            station_load_mw=station_flow * charging.energy_per_charge_mwh,
            road_link_flow_veh_per_h=per_period[:, :road].copy(),
            shifted_demand_veh_per_h=shifted,
            od_cost=od_cost,
            total_cost=float(result.link_flow @ result.link_cost),
            residual=self.spec.residual_flow(ev_demand),
            problem=self,
            assignment_problem=problem,
        )


def _empty_result(problem: AssignmentProblem) -> AssignmentResult:
    """The trivial equilibrium of a problem without demand (all prices priced everyone out)."""
    zero = np.zeros(problem.num_links)
    return AssignmentResult(
        status=AssignmentStatus.CONVERGED, algorithm="gradient-projection", link_flow=zero,
        link_cost=problem.links.costs(zero), objective=0.0, relative_gap=0.0, iterations=0,
        seconds=0.0,
    )


@dataclass(frozen=True)
class MultiPeriodResult:
    """MUL-UE at given prices: station loads, shifts, flows, costs and the solver's result.

    Arrays: ``station_*`` (periods, stations); ``road_link_flow_veh_per_h`` (periods, road
    links), GV + EV; ``shifted_demand_veh_per_h[class][ti, tj]`` = q_{ti->tj} summed over OD
    pairs; ``od_cost[class][ti, k]`` = equilibrium generalized cost ($/veh, shift cost included)
    of OD pair ``k`` generated in ``ti`` (NaN without demand); ``total_cost`` = sum over links
    of flow x generalized cost ($/h, shift costs and charging payments included).
    ``gv_demand_veh_per_h`` and ``ev_demand_veh_per_h`` are the new trips of each period;
    ``residual`` the vehicles carried between periods (all zero without ``residual_share``),
    whose GV class demand is new GV trips plus the residual carried in.
    """

    assignment: AssignmentResult
    price_per_mwh: FloatArray
    gv_demand_veh_per_h: FloatArray
    ev_demand_veh_per_h: FloatArray
    station_flow_veh_per_h: FloatArray
    station_load_mw: FloatArray
    road_link_flow_veh_per_h: FloatArray
    shifted_demand_veh_per_h: dict[str, FloatArray]
    od_cost: dict[str, FloatArray]
    total_cost: float
    residual: ResidualFlow
    problem: MultiPeriodProblem = field(repr=False, compare=False)
    assignment_problem: AssignmentProblem = field(repr=False, compare=False)

    @property
    def status(self) -> AssignmentStatus:
        return self.assignment.status

    @property
    def converged(self) -> bool:
        return self.assignment.converged

    @property
    def relative_gap(self) -> float:
        return self.assignment.relative_gap

    @property
    def iterations(self) -> int:
        return self.assignment.iterations

    @property
    def seconds(self) -> float:
        return self.assignment.seconds

    @property
    def warm_start(self) -> PathState | None:
        state: PathState | None = self.assignment.warm_start
        return state

    def shifted_demand_by_od(self) -> dict[str, FloatArray]:
        """``q[class][k, ti, tj]``: demand of OD pair ``k`` generated in ``ti`` departing in ``tj``.

        Read from the solver's path flows (each path uses exactly one shift link).
        """
        periods = self.problem.num_periods
        num_od = self.problem.spec.charging.network.od_demand.size
        names = self.problem.spec.class_names
        out = {name: np.zeros((num_od, periods, periods)) for name in names}
        state = self.warm_start
        if state is None:
            return out
        paths, keys = live_paths(state)
        owner, links = path_link_entries(state, paths)
        shift = self.problem.shift
        local = links - shift.first_link
        on_shift = (local >= 0) & (local < shift.class_index.size)
        path_of, shift_of = owner[on_shift], local[on_shift]
        first = np.cumsum([0] + [c.od_demand.size for c in self.assignment_problem.classes])
        for c, name in enumerate(names):
            mine = shift.class_index[shift_of] == c
            od = (keys[path_of[mine]] - first[c]) % num_od
            np.add.at(out[name], (od, shift.from_period[shift_of[mine]],
                                  shift.to_period[shift_of[mine]]),
                      state.flow[paths[path_of[mine]]])
        return out

    def class_road_link_flows(self) -> dict[str, FloatArray]:
        """Road link flows (periods, road links) of each class (``GV``, ``EV`` or the EV
        classes) separately."""
        problem = self.problem
        periods, block = problem.num_periods, problem.block
        road = problem.spec.charging.num_road_links
        state = self.warm_start
        if state is None:
            return {name: np.zeros((periods, road)) for name in problem.spec.class_names}
        flows = class_link_flows(self.assignment_problem, state)
        return {name: flow[: periods * block].reshape(periods, block)[:, :road].copy()
                for name, flow in flows.items()}

    def station_vehicles_by_class(self) -> dict[str, FloatArray]:
        """EVs charging (veh/h, shape (periods, stations)) per EV class: each class's flow on
        the charging links over its blocks per charge (``station_flow_veh_per_h`` counts
        charging blocks, which are vehicles only without EV classes)."""
        problem = self.problem
        spec = problem.spec
        periods, block = problem.num_periods, problem.block
        road = spec.charging.num_road_links
        state = self.warm_start
        names = spec.class_names[1:]
        if state is None:
            return {name: np.zeros((periods, spec.charging.num_stations)) for name in names}
        flows = class_link_flows(self.assignment_problem, state)
        return {name: flows[name][: periods * block].reshape(periods, block)[:, road:] / k
                for name, k in zip(names, spec.ev_blocks, strict=True)}


def build_multiperiod_problem(spec: MultiPeriodSpec) -> MultiPeriodProblem:
    """The time-expanded GV/EV problem of ``spec`` (at the stations' own prices).

    Raises :class:`InvalidInputError` naming the OD pair and period when a class has demand but
    no path (for EVs: none through any charging station).
    """
    charging = spec.charging
    network = charging.network
    periods = spec.num_periods
    road = charging.num_road_links
    block = road + charging.num_stations
    origins = np.unique(network.od_origin).astype(np.int64)
    destinations = np.unique(network.od_destination).astype(np.int64)
    # shift links: every (class, origin, ti, tj) with |ti - tj| <= M
    c_grid, o_grid, ti_grid, tj_grid = np.meshgrid(
        np.arange(len(spec.class_names)), np.arange(origins.size), np.arange(periods),
        np.arange(periods), indexing="ij",
    )
    allowed = np.abs(ti_grid - tj_grid) <= spec.max_shift_periods
    shift = ShiftLinks(
        first_link=periods * block,
        class_index=c_grid[allowed].astype(np.int64),
        origin=origins[o_grid[allowed]],
        from_period=ti_grid[allowed].astype(np.int64),
        to_period=tj_grid[allowed].astype(np.int64),
    )
    sink_link = shift.first_link + shift.class_index.size
    prices = charging.price_matrix_per_mwh()
    road_links = charging.road_link_costs()
    blocks = []
    for t in range(periods):
        blocks += [road_links, charging.station_link_costs(prices[:, t])]
    virtual = shift.class_index.size + 1
    shift_cost = spec.shift_cost_per_period * np.abs(shift.from_period - shift.to_period)
    blocks.append(LinkCosts(
        kind=np.full(virtual, CostKind.CONSTANT, dtype=np.int64),
        free_flow_time=np.zeros(virtual),
        capacity=np.ones(virtual),
        alpha=np.zeros(virtual),
        beta=np.zeros(virtual),
        fixed_cost=np.append(shift_cost, 0.0).astype(np.float64),
        value_of_time=charging.value_of_time_per_h,
    ))
    classes = []
    ev_graph = charging.ev_graph()
    for c, (name, graph, demand) in enumerate((
        (GV, charging.gv_graph(), spec.residual_flow().assigned_gv_veh_per_h),
        *((name, chain_charging_arcs(ev_graph, road, blocks), share * spec.ev_demand_veh_per_h)
          for name, blocks, share in zip(spec.class_names[1:], spec.ev_blocks, spec.ev_shares,
                                          strict=True)),
    )):
        mine = shift.class_index == c
        classes.append(_expanded_class(
            name, graph, network, periods, block, origins, destinations,
            o_grid[allowed][mine].astype(np.int64), shift.from_period[mine],
            shift.to_period[mine], shift.links[mine], sink_link, demand,
        ))
    road_labels = network.link_labels()[:road]
    labels = [f"t{t}:{label}" for t in range(periods)
              for label in [*road_labels, *(f"station {s}" for s in charging.station_names)]]
    labels += [f"shift {spec.class_names[c]} {network.node_ids[o]} t{ti}->t{tj}" for c, o, ti, tj in
               zip(shift.class_index, shift.origin, shift.from_period, shift.to_period,
                   strict=True)]
    labels.append("sink")
    problem = AssignmentProblem(concatenate_links(blocks), tuple(classes), tuple(labels))
    names = [f"{od_label(network, k)} in period {t}"
             for t in range(periods) for k in range(network.od_demand.size)]
    check_reachable(problem, {name: names for name in spec.class_names})
    return MultiPeriodProblem(spec, problem, shift, sink_link)
