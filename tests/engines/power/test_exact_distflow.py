"""An independent check of the DistFlow-SOC OPF: the exact, nonconvex branch flow model in Ipopt.

The SOC relaxation (Farivar & Low 2013) is exact on radial feeders with positive prices and no
binding upper voltage limits, so its optimum must be the optimum of the original branch flow
model of Baran & Wu (1989), where ``ℓ·v = P² + Q²`` is an equality. This file writes that model
again from the Feeder arrays and the case data alone (casadi SX expressions, Ipopt bundled in
casadi's wheel; nothing of engines/power/distflow.py), solves it from a flat start, and compares
objective, voltages, dispatch and DLMPs (Ipopt's multipliers of the active power balances).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import casadi as ca
import numpy as np
import pytest

from ptn.engines.power.builtin_feeders import load_feeder
from ptn.engines.power.der import DsoCase, MicroTurbine, Renewable, Storage
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.feeder import Feeder
from ptn.engines.power.profiles import daily_profile, seed002_time_of_use
from ptn.engines.power.result import OpfStatus

T = 24


def incidence(rows: int, positions: np.ndarray) -> np.ndarray:
    matrix = np.zeros((rows, positions.size))
    matrix[positions, np.arange(positions.size)] = 1.0
    return matrix


def column(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


@dataclass
class NlpBuilder:
    """Decision matrices with bounds, and constraint blocks with bounds, both column-major."""

    x: list[ca.SX] = field(default_factory=list)
    x_lower: list[np.ndarray] = field(default_factory=list)
    x_upper: list[np.ndarray] = field(default_factory=list)
    x_start: list[np.ndarray] = field(default_factory=list)
    x_slices: dict[str, tuple[slice, tuple[int, int]]] = field(default_factory=dict)
    g: list[ca.SX] = field(default_factory=list)
    g_lower: list[np.ndarray] = field(default_factory=list)
    g_upper: list[np.ndarray] = field(default_factory=list)
    g_slices: dict[str, tuple[slice, tuple[int, int]]] = field(default_factory=dict)

    @staticmethod
    def _flat(value: object, shape: tuple[int, int]) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).ravel(order="F")

    def variable(self, name: str, shape: tuple[int, int], lower: object = -np.inf,
                 upper: object = np.inf, start: object = 0.0) -> ca.SX:
        symbol = ca.SX.sym(name, *shape)
        offset = sum(s.numel() for s in self.x)
        self.x_slices[name] = (slice(offset, offset + symbol.numel()), shape)
        self.x.append(symbol)
        self.x_lower.append(self._flat(lower, shape))
        self.x_upper.append(self._flat(upper, shape))
        self.x_start.append(self._flat(start, shape))
        return symbol

    def constraint(self, name: str, expression: ca.SX, lower: object, upper: object) -> None:
        shape = (expression.size1(), expression.size2())
        offset = sum(e.numel() for e in self.g)
        self.g_slices[name] = (slice(offset, offset + expression.numel()), shape)
        self.g.append(ca.vec(expression))
        self.g_lower.append(self._flat(lower, shape))
        self.g_upper.append(self._flat(upper, shape))

    def read(self, vector: np.ndarray, slices: dict[str, tuple[slice, tuple[int, int]]]
             ) -> dict[str, np.ndarray]:
        return {name: vector[where].reshape(shape, order="F")
                for name, (where, shape) in slices.items()}


@dataclass
class ExactSolution:
    objective: float
    status: str
    x: dict[str, np.ndarray]
    multipliers: dict[str, np.ndarray]


def solve_exact_distflow(case: DsoCase) -> ExactSolution:
    """The exact branch flow OPF of a one-feeder case (micro-turbines, storage, PV/wind)."""
    assert len(case.feeders) == 1 and not case.demand_response and not case.charging_points
    feeder = case.feeders[0]
    periods, dt, base = case.periods, case.period_hours, feeder.base_mva
    n, m = feeder.num_buses, feeder.num_branches
    into, out = incidence(n, feeder.branch_to), incidence(n, feeder.branch_from)
    R, X = np.diag(feeder.r_pu), np.diag(feeder.x_pu)
    Z2 = np.diag(feeder.r_pu**2 + feeder.x_pu**2)
    slack = incidence(n, np.array([feeder.slack_bus]))
    v_lower, v_upper = feeder.v_min_pu**2, feeder.v_max_pu**2
    v_lower[feeder.slack_bus] = v_upper[feeder.slack_bus] = feeder.slack_voltage_pu**2
    current_max = np.where(np.isfinite(feeder.branch_rating_mva),
                           (feeder.branch_rating_mva / base) ** 2, np.inf)

    nlp = NlpBuilder()
    P = nlp.variable("P", (m, periods))
    Q = nlp.variable("Q", (m, periods))
    L = nlp.variable("l", (m, periods), 0.0, current_max[:, None])
    v = nlp.variable("v", (n, periods), v_lower[:, None], v_upper[:, None], 1.0)
    P0 = nlp.variable("P0", (1, periods), feeder.upstream_p_min_mw / base,
                      feeder.upstream_p_max_mw / base)
    Q0 = nlp.variable("Q0", (1, periods), feeder.upstream_q_min_mvar / base,
                      feeder.upstream_q_max_mvar / base)
    inject_p = ca.SX.zeros(n, periods)
    inject_q = ca.SX.zeros(n, periods)

    def at(devices: tuple[Any, ...]) -> np.ndarray:
        buses = [feeder.bus_index(device.bus) for device in devices]
        return incidence(n, np.array(buses))

    cost = ca.SX(0.0)
    turbines = case.micro_turbines
    if turbines:
        pg = nlp.variable("pg", (len(turbines), periods), column([g.p_min_mw for g in turbines]),
                          column([g.p_max_mw for g in turbines]))
        qg = nlp.variable("qg", (len(turbines), periods),
                          column([g.q_min_mvar for g in turbines]),
                          column([g.q_max_mvar for g in turbines]))
        if periods > 1:
            ramp = column([g.ramp_mw_per_h * dt for g in turbines])
            nlp.constraint("ramp", pg[:, 1:] - pg[:, :-1], -ramp, ramp)
        a = np.array([g.cost_quadratic_per_mw2h for g in turbines])
        b = np.array([g.cost_linear_per_mwh for g in turbines])
        cost += dt * ca.sum2(ca.mtimes(a[None, :], pg**2) + ca.mtimes(b[None, :], pg))
        inject_p += ca.mtimes(at(turbines), pg)
        inject_q += ca.mtimes(at(turbines), qg)
    units = case.storage
    if units:
        ch = nlp.variable("ch", (len(units), periods), 0.0,
                          column([s.charge_max_mw for s in units]))
        dis = nlp.variable("dis", (len(units), periods), 0.0,
                           column([s.discharge_max_mw for s in units]))
        initial = column([s.soc_initial for s in units])
        soc_lower = np.repeat(column([s.soc_min for s in units]), periods + 1, axis=1)
        soc_upper = np.repeat(column([s.soc_max for s in units]), periods + 1, axis=1)
        soc_lower[:, [0, periods]] = soc_upper[:, [0, periods]] = initial
        soc = nlp.variable("soc", (len(units), periods + 1), soc_lower, soc_upper, initial)
        per_mwh = np.array([dt / s.energy_mwh for s in units])
        gain = np.diag(per_mwh * np.array([s.charge_efficiency for s in units]))
        drain = np.diag(per_mwh / np.array([s.discharge_efficiency for s in units]))
        nlp.constraint("soc", soc[:, 1:] - soc[:, :-1] - ca.mtimes(gain, ch)
                       + ca.mtimes(drain, dis), 0.0, 0.0)
        inject_p += ca.mtimes(at(units), dis - ch)
    renewables = case.renewables
    if renewables:
        available = np.array([u.available_mw() for u in renewables])
        curtailable = column([u.curtailable for u in renewables]).astype(bool)
        limit = column([u.apparent_limit_mva for u in renewables])
        support = column([u.reactive_support for u in renewables]).astype(bool)
        pr = nlp.variable("pr", (len(renewables), periods),
                          np.where(curtailable, 0.0, available), available)
        qr = nlp.variable("qr", (len(renewables), periods), np.where(support, -limit, 0.0),
                          np.where(support, limit, 0.0))
        nlp.constraint("inverter", pr**2 + qr**2, -np.inf, limit**2)
        inject_p += ca.mtimes(at(renewables), pr)
        inject_q += ca.mtimes(at(renewables), qr)

    load_p = np.outer(feeder.load_p_mw, case.load_profile) / base
    load_q = np.outer(feeder.load_q_mvar, case.load_profile) / base
    nlp.constraint("p_balance", ca.mtimes(into, P - ca.mtimes(R, L)) - ca.mtimes(out, P)
                   + ca.mtimes(slack, P0) + inject_p / base, load_p, load_p)
    nlp.constraint("q_balance", ca.mtimes(into, Q - ca.mtimes(X, L)) - ca.mtimes(out, Q)
                   + ca.mtimes(slack, Q0) + inject_q / base, load_q, load_q)
    v_parent = ca.mtimes(out.T, v)
    nlp.constraint("voltage", ca.mtimes(into.T, v) - v_parent
                   + 2 * (ca.mtimes(R, P) + ca.mtimes(X, Q)) - ca.mtimes(Z2, L), 0.0, 0.0)
    nlp.constraint("current", L * v_parent - P**2 - Q**2, 0.0, 0.0)  # exact, nonconvex

    price = np.full(periods, feeder.upstream_cost.linear_per_mwh) \
        if case.upstream_price_per_mwh is None else np.asarray(case.upstream_price_per_mwh)
    upstream = P0 * base
    cost += dt * (ca.mtimes(upstream, price[:, None])
                  + feeder.upstream_cost.quadratic_per_mw2h * ca.sumsqr(upstream))
    cost += feeder.upstream_cost.constant_per_h * periods * dt

    solver = ca.nlpsol("exact_distflow", "ipopt",
                       {"x": ca.vertcat(*(ca.vec(s) for s in nlp.x)), "f": cost,
                        "g": ca.vertcat(*nlp.g)},
                       {"print_time": False, "ipopt.print_level": 0, "ipopt.sb": "yes",
                        "ipopt.tol": 1e-10})
    solution = solver(x0=np.concatenate(nlp.x_start), lbx=np.concatenate(nlp.x_lower),
                      ubx=np.concatenate(nlp.x_upper), lbg=np.concatenate(nlp.g_lower),
                      ubg=np.concatenate(nlp.g_upper))
    return ExactSolution(
        objective=float(solution["f"]),
        status=str(solver.stats()["return_status"]),
        x=nlp.read(np.asarray(solution["x"]).ravel(), nlp.x_slices),
        multipliers=nlp.read(np.asarray(solution["lam_g"]).ravel(), nlp.g_slices),
    )


@pytest.fixture(scope="module")
def feeder() -> Feeder:
    return load_feeder("case33bw")


def test_single_period_shipped_cost(feeder: Feeder) -> None:
    case = DsoCase(feeders=(feeder,))
    exact = solve_exact_distflow(case)
    assert exact.status == "Solve_Succeeded"
    socp = DistFlowOpf(case).solve()
    assert socp.status == OpfStatus.OPTIMAL
    assert socp.objective == pytest.approx(78.3535, abs=1e-4)
    assert exact.objective == pytest.approx(socp.objective, rel=1e-5)  # measured 3e-9
    np.testing.assert_allclose(np.sqrt(exact.x["v"]), socp.feeders[0].voltage_pu, atol=1e-5)
    losses = feeder.r_pu @ exact.x["l"] * feeder.base_mva
    np.testing.assert_allclose(losses, socp.feeders[0].loss_mw, rtol=1e-5)
    # Ipopt's multiplier λ of ``balance − load = 0`` is −∂cost/∂load (per unit, per period)
    dlmp = -exact.multipliers["p_balance"] / feeder.base_mva
    np.testing.assert_allclose(dlmp, socp.feeders[0].dlmp_per_mwh, rtol=1e-5)


@pytest.mark.parametrize("period_hours", [1.0, 0.5])
def test_24_periods_with_turbine_storage_and_pv(feeder: Feeder, period_hours: float) -> None:
    case = DsoCase(
        feeders=(feeder,),
        periods=T,
        period_hours=period_hours,
        load_profile=daily_profile("rts-winter-weekday", T),
        upstream_price_per_mwh=seed002_time_of_use(T),
        micro_turbines=(MicroTurbine("mt18", 18, p_max_mw=0.6, cost_quadratic_per_mw2h=50.0,
                                     cost_linear_per_mwh=600.0, q_min_mvar=-0.3,
                                     q_max_mvar=0.3, ramp_mw_per_h=0.2),),
        storage=(Storage("bess33", 33, energy_mwh=2.0, charge_max_mw=0.5,
                         discharge_max_mw=0.5),),
        renewables=(Renewable("pv25", 25, "pv", rated_mw=1.0,
                              profile=daily_profile("solar", T)),),
    )
    exact = solve_exact_distflow(case)
    assert exact.status == "Solve_Succeeded"
    socp = DistFlowOpf(case).solve()
    assert socp.status == OpfStatus.OPTIMAL
    assert socp.relaxation_gap_weighted_mw < 1e-6
    assert exact.objective == pytest.approx(socp.objective, rel=1e-5)  # measured 2e-8
    np.testing.assert_allclose(np.sqrt(exact.x["v"]), socp.feeders[0].voltage_pu,
                               atol=1e-5)  # measured 8e-7 p.u.
    np.testing.assert_allclose(exact.x["pg"][0], socp.micro_turbine_p_mw["mt18"], atol=1e-4)
    np.testing.assert_allclose(exact.x["dis"][0] - exact.x["ch"][0],
                               socp.storage_discharge_mw["bess33"]
                               - socp.storage_charge_mw["bess33"], atol=1e-4)
    np.testing.assert_allclose(exact.x["pr"][0], socp.renewable_p_mw["pv25"], atol=1e-4)
    dlmp = -exact.multipliers["p_balance"] / (feeder.base_mva * case.period_hours)
    np.testing.assert_allclose(dlmp, socp.feeders[0].dlmp_per_mwh, rtol=1e-4)
