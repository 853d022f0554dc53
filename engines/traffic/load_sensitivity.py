"""Station-load sensitivities of a solved MUL-UE by implicit differentiation.

Why this module exists: the pricing game's CNOs linearize the traffic department's load response
by finite differences (base price plus 1 $/MWh steps, MODELS.md §3 AEM), one exact equilibrium
per probe, and those re-solves were 65–94 % of a game's time. Near a solved equilibrium the
response to a small price change is given by the equilibrium's own Hessian, at the cost of one
linear solve instead of one equilibrium.

Derivation (the sensitivity analysis of Tobin & Friesz 1988, "Sensitivity analysis for
equilibrium network flow", Transp. Sci. 22(4), in its path-based restricted form, as in
Patriksson 2004, "Sensitivity analysis of traffic equilibria", Transp. Sci. 38(3)). Keep the
used paths of every OD pair fixed (the active set; strict complementarity assumed) and write the
path flows as ``f = f0 + B·Δd + D·y``: ``B`` puts an OD's demand change on its basic
(largest-flow) path, column ``j`` of ``D`` is ``δ_p − δ_b`` for a used non-basic path ``p`` and
its basic path ``b`` (the columns of :mod:`ptn.engines.traffic.path_newton`'s Newton step). The
equilibrium says ``Dᵀ c(x) = 0`` (every used path of an OD costs the same), ``x = Δ f``.
Differentiating in the prices α:

    (Dᵀ H D) dy = −Dᵀ (H·B·dd + dφ),   dx = B·dd + D·dy,   dP_st = E_B · dx_(station s, period t)

with ``H = diag(c'(x))`` the link cost derivatives, ``dφ`` the change of the charging links'
money terms (``E_B·dα_st``) and ``dd`` the EV demand change of the elastic law
``d_t = d_t^ori (1 − σ_t (mean_s α_st − C_base)/C_base)`` (exactly linear in α while the factor
stays positive). Departure shifting needs nothing special: shift links are links of the
time-expanded network (:mod:`ptn.engines.traffic.multiperiod`), and a path through another
period's copy is just another used path. The system is factorized once per base (sparse LU)
and each price direction is two triangular solves; past :data:`DIRECT_MAX_COLUMNS` columns, or
if the factorization fails, each direction is solved by the Newton step's matrix-free,
Jacobi-preconditioned conjugate gradients.

Validity: the expansion is the exact derivative of the restricted problem; it predicts the
equilibrium as long as the used path sets stay the same. :meth:`LoadSensitivity.expand` reports
how far the predicted path flows go below zero (veh/h; zero while the active set holds) and
whether the demand law's clipping at zero is crossed, so a caller can fall back to an exact
re-solve. Paths outside the solver's path sets that a price change would make attractive are
not detected; callers bound the step (the traffic department's radius, tested against exact
re-solves). Not supported (:func:`load_sensitivity` refuses): seed 003's residual flow (the GV
demand then depends on the EV demand).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numba as nb
import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse import csc_matrix, diags
from scipy.sparse.linalg import SuperLU, splu

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.graph import compile_graph
from ptn.engines.traffic.multiperiod import MultiPeriodResult, MultiPeriodSpec
from ptn.engines.traffic.network import FloatArray, IntArray
from ptn.engines.traffic.path_newton import link_change, net_columns, newton_direction

#: the conjugate gradients' relative residual target: the linear solve is far cheaper than the
#: equilibrium, so it is solved to near rounding level
SENSITIVITY_CG_RTOL = 1e-10

#: the conjugate gradients' iteration cap per price direction
SENSITIVITY_CG_MAX_ITERATIONS = 2000

#: the directions are solved by one sparse LU factorization of the system up to this many
#: columns (used non-basic paths), by conjugate gradients beyond
DIRECT_MAX_COLUMNS = 100_000

#: the factorized system's diagonal is raised by this fraction of itself, so that directions
#: along which only flat-cost links differ stay bounded (the CG's regularization is 1e-12 and
#: it truncates such directions; a direct solve needs more, and 1e-9 moves the loads of a
#: well-posed direction by about that relative amount)
DIRECT_SHIFT = 1e-9


@nb.njit(cache=True)
def _used_columns(od_head, pflow, pnext):  # type: ignore[no-untyped-def]
    """Per graph OD its basic (largest-flow) path (-1: none), and every other used path with
    its basic path and OD: the columns of D."""
    num_ods = od_head.size
    od_basic = np.full(num_ods, -1, dtype=np.int64)
    count = 0
    for od in range(num_ods):
        best = -1
        best_flow = 0.0
        p = od_head[od]
        while p >= 0:
            if pflow[p] > best_flow:
                best_flow = pflow[p]
                best = p
            if pflow[p] > 0.0:
                count += 1
            p = pnext[p]
        od_basic[od] = best
    path = np.empty(count, dtype=np.int64)
    basic = np.empty(count, dtype=np.int64)
    owner = np.empty(count, dtype=np.int64)
    m = 0
    for od in range(num_ods):
        b = od_basic[od]
        p = od_head[od]
        while p >= 0:
            if p != b and pflow[p] > 0.0:
                path[m] = p
                basic[m] = b
                owner[m] = od
                m += 1
            p = pnext[p]
    return od_basic, path[:m], basic[:m], owner[:m]


@dataclass(frozen=True)
class LoadExpansion:
    """The first-order prediction at one price: station loads and its validity measures."""

    #: predicted station loads (periods, stations), MW
    station_load_mw: FloatArray
    #: the most flow (veh/h) a used path would need below zero: 0 while the path sets hold
    path_overshoot_veh_per_h: float
    #: whether the elastic demand law's clipping at zero lies between base and probe
    demand_kink: bool
    #: the largest price change from the base, $/MWh
    step_per_mwh: float


@dataclass(frozen=True)
class LoadSensitivity:
    """A solved MUL-UE and what its first-order expansion in the prices needs."""

    base: MultiPeriodResult
    #: D by columns (net link coefficients) and the columns' paths, basic paths and ODs
    col_start: IntArray
    col_row: IntArray
    col_value: FloatArray
    column_path: IntArray
    column_od: IntArray
    #: link entries of every OD's basic path: (graph OD, link) per entry
    basic_entry_od: IntArray
    basic_entry_link: IntArray
    #: per graph OD: its demand's derivative in its generation period's demand factor (veh/h
    #: per unit factor; 0 for GV) and that period
    od_demand_per_factor: FloatArray
    od_period: IntArray
    derivative: FloatArray
    station_links: IntArray
    #: the columns' path flows and every graph OD's basic path flow at the base (veh/h)
    column_flow: FloatArray
    basic_flow: FloatArray
    #: the conjugate gradients' iteration cap per price direction
    cg_max_iterations: int = SENSITIVITY_CG_MAX_ITERATIONS

    @property
    def base_price_per_mwh(self) -> FloatArray:
        """The base's prices (stations, periods)."""
        return self.base.price_per_mwh

    def direction(self, price_change_per_mwh: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The link-flow change (veh/h) and the column moves of the derivative applied to the
        price change ``price_change_per_mwh`` (stations, periods). (Fixing the paths it would
        empty at zero and solving again, as the solver's Newton step does, was measured worse
        on Sioux Falls: the paths that enter the sets matter as much as those that leave.)"""
        change = np.asarray(price_change_per_mwh, dtype=np.float64)
        num_links = self.derivative.size
        demand_flow = self.demand_link_basis @ self.demand_factor_change(change)
        link_term = self.derivative * demand_flow
        energy = self.base.problem.spec.charging.energy_per_charge_mwh
        link_term[self.station_links] += energy * change.T
        columns = self.column_path.size
        if columns == 0 or not np.any(link_term):
            return demand_flow, np.zeros(columns)
        factor = self._factor
        if factor is not None:
            moves = np.asarray(factor.solve(-(self._columns.T @ link_term)), dtype=np.float64)
        else:
            moves = newton_direction(self.col_start, self.col_row, self.col_value, link_term,
                                     self.derivative, SENSITIVITY_CG_RTOL,
                                     self.cg_max_iterations, np.ones(columns),
                                     np.zeros(columns))
        flow = demand_flow + link_change(self.col_start, self.col_row, self.col_value, moves,
                                         num_links)
        return flow, moves

    @cached_property
    def _columns(self) -> csc_matrix:
        """D as a sparse matrix (links x columns)."""
        return csc_matrix((self.col_value, self.col_row, self.col_start),
                          shape=(self.derivative.size, self.column_path.size))

    @cached_property
    def _factor(self) -> SuperLU | None:
        """The sparse LU factors of ``Dᵀ diag(c') D``, its diagonal raised by
        :data:`DIRECT_SHIFT` of itself where costs are flat: every direction is then two
        triangular solves instead of conjugate gradients (on Chicago Sketch's 5,500 columns a
        direction took 53 ms by CG); None past :data:`DIRECT_MAX_COLUMNS` columns or when the
        factorization fails (the directions are then solved by CG)."""
        columns = self._columns
        if not 0 < columns.shape[1] <= DIRECT_MAX_COLUMNS:
            return None
        matrix = (columns.T @ diags(self.derivative) @ columns).tocsc()
        diagonal = np.maximum(matrix.diagonal(), 1e-300)
        try:
            return splu((matrix + diags(DIRECT_SHIFT * diagonal)).tocsc())
        except (RuntimeError, MemoryError):  # singular or too large after all
            return None

    def demand_factor_change(self, price_change_per_mwh: FloatArray) -> FloatArray:
        """The elastic demand law's factor change per period under the price change (linear
        in the prices while the factor stays positive)."""
        spec = self.base.problem.spec
        return np.asarray(-np.asarray(spec.price_sensitivity)
                          * price_change_per_mwh.mean(axis=0) / spec.base_price_per_mwh,
                          dtype=np.float64)

    def od_demand_change(self, price_change_per_mwh: FloatArray) -> FloatArray:
        """Each graph OD's demand change (veh/h) under the price change (the elastic law is
        linear in the prices while its factor stays positive)."""
        factor_change = self.demand_factor_change(price_change_per_mwh)
        return np.asarray(self.od_demand_per_factor * factor_change[self.od_period],
                          dtype=np.float64)

    @cached_property
    def demand_link_basis(self) -> FloatArray:
        """The link flows (veh/h) of each period's unit demand-factor change on the basic
        paths, (links, periods): a direction's demand term is this times its factor change
        (one matrix product instead of a pass over every basic path's links, which took
        0.35 s a direction on Chicago Sketch)."""
        num_links = self.derivative.size
        periods = self.station_links.shape[0]
        weight = self.od_demand_per_factor[self.basic_entry_od]
        period = self.od_period[self.basic_entry_od]
        basis = np.zeros((num_links, periods))
        for t in range(periods):
            basis[:, t] = np.bincount(self.basic_entry_link, np.where(period == t, weight, 0.0),
                                      minlength=num_links)
        return basis

    def station_load_jacobian(self) -> FloatArray:
        """d(station load)/d(price): shape (periods, stations, stations, periods), MW per
        $/MWh (entry ``[t, s, s2, t2]`` is load of s in t per price of s2 in t2)."""
        spec = self.base.problem.spec
        periods, stations = self.station_links.shape
        out = np.zeros((periods, stations, stations, periods))
        for s in range(stations):
            for t in range(periods):
                unit = np.zeros((stations, periods))
                unit[s, t] = 1.0
                flow, _ = self.direction(unit)
                out[:, :, s, t] = flow[self.station_links] * spec.charging.energy_per_charge_mwh
        return out

    def expand(self, price_per_mwh: ArrayLike) -> LoadExpansion:
        """The first-order prediction of the station loads at ``price_per_mwh`` (stations,
        periods) and how far it is from holding (see the module doc)."""
        spec = self.base.problem.spec
        price = spec.charging.check_prices(price_per_mwh, periods=spec.num_periods)
        change = price - self.base_price_per_mwh
        flow, moves = self.direction(change)
        load = self.base.station_load_mw + flow[self.station_links] \
            * spec.charging.energy_per_charge_mwh
        overshoot = 0.0
        if self.column_path.size:
            basic_take = np.bincount(self.column_od, moves, minlength=self.basic_flow.size)
            basic_flow = self.basic_flow + self.od_demand_change(change) - basic_take
            overshoot = float(max(0.0, -min(float((self.column_flow + moves).min()),
                                            float(basic_flow.min(initial=np.inf)))))
        base_factor = _demand_factor(self.base_price_per_mwh, spec)
        probe_factor = _demand_factor(price, spec)
        kink = bool(np.any((base_factor <= 0) != (probe_factor <= 0)))
        return LoadExpansion(load, overshoot, kink, float(np.abs(change).max(initial=0.0)))


def _demand_factor(price: FloatArray, spec: MultiPeriodSpec) -> FloatArray:
    """The elastic demand law's factor per period before its clipping at zero."""
    base = spec.base_price_per_mwh
    return np.asarray(1.0 - np.asarray(spec.price_sensitivity) * (price.mean(axis=0) - base)
                      / base, dtype=np.float64)


def load_sensitivity(base: MultiPeriodResult, *,
                     cg_max_iterations: int = SENSITIVITY_CG_MAX_ITERATIONS) -> LoadSensitivity:
    """What the first-order expansion around the solved ``base`` needs (its used path sets,
    the columns D, the link cost derivatives); ``cg_max_iterations`` caps each direction's
    conjugate gradients."""
    problem = base.problem
    spec = problem.spec
    if spec.has_residual_flow:
        raise InvalidInputError("load sensitivities: residual_share is not supported (the GV "
                                "demand then depends on the EV demand); use exact re-solves")
    state = base.warm_start
    links = base.assignment_problem.links
    flow = base.assignment.link_flow
    derivative = links.cost_derivatives(flow)
    station_links = problem.station_links()
    graph = compile_graph(base.assignment_problem)
    num_links = flow.size
    if state is None or state.num_paths == 0:
        empty = np.zeros(0, dtype=np.int64)
        return LoadSensitivity(base, np.zeros(1, dtype=np.int64), empty, np.zeros(0), empty,
                               empty, empty, empty, np.zeros(graph.num_ods),
                               np.zeros(graph.num_ods, dtype=np.int64), derivative,
                               station_links, np.zeros(0), np.zeros(graph.num_ods),
                               cg_max_iterations)
    if not np.array_equal(state.od_key, graph.od_order):
        raise InvalidInputError("load sensitivities: the base's path state does not match its "
                                "problem's OD pairs")
    od_basic, path, basic, owner = _used_columns(state.od_head, state.flow, state.next)
    col_start, col_row, col_value = net_columns(path, basic, state.links, state.start,
                                                state.length, num_links)
    has = np.flatnonzero(od_basic >= 0)
    lengths = state.length[od_basic[has]].astype(np.int64)
    entry_od = np.repeat(has, lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    entry_link = state.links[state.start[od_basic[entry_od]] + offsets].astype(np.int64)
    # each graph OD's class, generation period and demand per unit of the demand factor
    num_od = spec.charging.network.od_demand.size
    key = graph.od_order
    od_class = np.searchsorted(graph.class_first_od, key, side="right") - 1
    within = key - graph.class_first_od[od_class]
    period = (within // num_od).astype(np.int64)
    shares = np.array([0.0, *spec.ev_shares])
    original = spec.ev_demand_veh_per_h.ravel()[within % (num_od * spec.num_periods)]
    per_factor = np.where(od_class > 0, shares[od_class] * original, 0.0)
    basic_flow = np.where(od_basic >= 0, state.flow[np.maximum(od_basic, 0)], 0.0)
    return LoadSensitivity(base, col_start, col_row, col_value, path, owner, entry_od,
                           entry_link, per_factor, period, derivative, station_links,
                           state.flow[path].copy(), basic_flow, cg_max_iterations)
