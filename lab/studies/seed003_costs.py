"""Seed 003's own cost terms and its own accounting, evaluated on ptn's operations.

Why this module exists: ptn's negotiation reports the traffic side's cost as the Beckmann
potential of all vehicles (the objective whose minimum is the equilibrium), which seed 003
(Sadhu et al. 2022, "Optimal transportation–power network flow", eqs. 1–4; MODELS.md §5) never
reports. The paper's objective is C_TN + C_PDN:

* **EVs' travel cost** (eq. 1's first term): Σ_t Σ_e ω·τ_e(t)·ϑ^EV_e,t, the EVs' link flows
  times their travel times times the value of time ω, over the road links and the charging
  links (the station's Davidson delay: queueing plus charging time);
* **EVs' charging bill** G_ch (eq. 2): Σ price × charging energy;
* **the feeder's generation and purchase cost** C_PDN (eq. 3): the DSO's OPF cost.

This module evaluates these terms at an operation given by its station prices: the traffic
equilibrium at those prices (the experimenter's full-information view) gives the EVs' flows and
times; the operation's own record gives its loads, prices and the DSO's cost.

**The paper's accounting** (Table 2): its baseline 8,604.67 €/h is the OTPNF solution's own TN
and PDN costs (3,384.28 + 5,220.39), and its "optimal system cost" 5,470.67 is the same PDN
cost plus 250.28. The saving, 3,134.00 €/h (36.42 %), is then exactly the TN cost minus 250.28:
the charging bill, which the joint figure nets out (a payment from EVs to the grid is a transfer
inside the system). :func:`paper_accounting` applies that accounting to any operation: baseline
= travel + bill + feeder, joint = travel + feeder, saving = the bill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ptn.coordinator.outcome import CostSummary
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.multiperiod import MultiPeriodProblem, MultiPeriodResult

#: seed 003's Table 2 (€/h): the OTPNF row's individual TN and PDN costs and its optimal system
#: cost, and the OPF-only row
PAPER_TN_COST = 3384.28
PAPER_PDN_COST = 5220.39
PAPER_SYSTEM_COST = 5470.67
PAPER_BASELINE_COST = 8604.67
PAPER_OPF_ONLY_PDN_COST = 8812.22
PAPER_OPF_ONLY_SYSTEM_COST = 8372.12


@dataclass(frozen=True)
class PaperAccounting:
    """Seed 003's accounting of one operation (module doc), in money over the same span."""

    baseline: float  # travel + bill + feeder (the paper's "aggregated cost", C_TN + C_PDN)
    joint: float  # travel + feeder (the paper's "optimal system cost": the bill netted out)

    @property
    def saving(self) -> float:
        return self.baseline - self.joint

    @property
    def saving_percent(self) -> float:
        return 100.0 * self.saving / self.baseline if self.baseline else math.nan


def paper_accounting(ev_travel_cost: float, charging_bill: float,
                     feeder_cost: float) -> PaperAccounting:
    """The paper's accounting of one operation: its saving is the charging bill."""
    return PaperAccounting(baseline=ev_travel_cost + charging_bill + feeder_cost,
                           joint=ev_travel_cost + feeder_cost)


def table2_implied_terms(tn_cost: float = PAPER_TN_COST, pdn_cost: float = PAPER_PDN_COST,
                         system_cost: float = PAPER_SYSTEM_COST) -> tuple[float, float]:
    """(travel cost, charging bill) that Table 2's row implies under the paper's accounting:
    the joint figure is PDN + travel, the TN cost travel + bill."""
    travel = system_cost - pdn_cost
    return travel, tn_cost - travel


@dataclass(frozen=True)
class PaperCostTerms:
    """Seed 003's cost terms of one operation, in $ over the horizon (``$`` is the paper's €).

    ``ev_travel_cost`` = ``ev_road_time_cost`` + ``ev_station_time_cost`` (ω × flow × time, the
    station's time its Davidson delay: queueing plus charging); ``all_vehicles_travel_cost`` the
    same over GVs and EVs; ``charging_bill`` Σ price × load × Δt of the operation's record;
    ``feeder_cost`` the DSO's cost of that operation (NaN where it has no dispatch);
    ``beckmann_potential`` what ``costs.csv`` reports as "traffic $". ``load_mismatch_mw`` is
    max |equilibrium loads − the operation's loads|: how closely the equilibrium at the
    operation's prices reproduces it. ``status`` ``ok``, or the equilibrium's status.
    """

    operation: str
    status: str
    ev_road_time_cost: float
    ev_station_time_cost: float
    charging_bill: float
    feeder_cost: float
    all_vehicles_travel_cost: float
    beckmann_potential: float
    ev_trips: float
    charging_energy_mwh: float
    load_mismatch_mw: float

    @property
    def ev_travel_cost(self) -> float:
        return self.ev_road_time_cost + self.ev_station_time_cost

    @property
    def paper_objective(self) -> float:
        """C_TN + C_PDN (eq. 4): travel, charging bill and the feeder's cost."""
        return self.ev_travel_cost + self.charging_bill + self.feeder_cost

    @property
    def social_cost(self) -> float:
        """Travel and the feeder's cost; the bill is a transfer between EVs and the grid."""
        return self.ev_travel_cost + self.feeder_cost

    def accounting(self) -> PaperAccounting:
        return paper_accounting(self.ev_travel_cost, self.charging_bill, self.feeder_cost)

    def row(self) -> dict[str, float | str]:
        """A CSV row ($ over the horizon)."""
        accounting = self.accounting()
        return {
            "operation": self.operation, "status": self.status,
            "ev_travel_cost_usd": self.ev_travel_cost,
            "ev_road_time_cost_usd": self.ev_road_time_cost,
            "ev_station_time_cost_usd": self.ev_station_time_cost,
            "ev_charging_bill_usd": self.charging_bill,
            "feeder_generation_and_purchase_cost_usd": self.feeder_cost,
            "paper_objective_usd": self.paper_objective,
            "social_cost_usd": self.social_cost,
            "paper_accounting_saving_usd": accounting.saving,
            "paper_accounting_saving_percent": accounting.saving_percent,
            "all_vehicles_travel_cost_usd": self.all_vehicles_travel_cost,
            "beckmann_potential_usd": self.beckmann_potential,
            "ev_trips": self.ev_trips, "charging_energy_mwh": self.charging_energy_mwh,
            "load_mismatch_mw": self.load_mismatch_mw,
        }


def travel_time_costs(traffic: MultiPeriodProblem, result: MultiPeriodResult,
                      period_hours: float) -> tuple[float, float, float]:
    """(EV road, EV station, all vehicles) travel-time cost in $ over the horizon: ω × link
    flow × link time × Δt, the links' times at the equilibrium's total flows."""
    periods, block = traffic.num_periods, traffic.block
    road = traffic.spec.charging.num_road_links
    flow = np.asarray(result.assignment.link_flow, dtype=np.float64)
    times = traffic.problem.links.times(flow)[: periods * block].reshape(periods, block)
    omega = traffic.spec.charging.value_of_time_per_h * period_hours
    ev_road = result.class_road_link_flows()["EV"]
    station = float(np.sum(result.station_flow_veh_per_h * times[:, road:]))
    every_road = float(np.sum(result.road_link_flow_veh_per_h * times[:, :road]))
    return (omega * float(np.sum(ev_road * times[:, :road])), omega * station,
            omega * (every_road + station))


def cost_terms_at(
    operation: str,
    traffic: MultiPeriodProblem,
    point: CostSummary,
    stations: tuple[str, ...],
    period_hours: float,
    *,
    gap: float = 1e-8,
    max_iterations: int = 5000,
    warm_start: MultiPeriodResult | None = None,
) -> tuple[PaperCostTerms, MultiPeriodResult]:
    """Seed 003's cost terms of an operation (``point``: its loads and prices in ``stations``
    order, its DSO cost under ``by_operator["dso"]``) and the equilibrium at its prices."""
    names = traffic.spec.charging.station_names
    if sorted(stations) != sorted(names):
        raise InvalidInputError(f"stations {', '.join(stations)} are not the traffic model's "
                                f"({', '.join(names)})")
    order = [stations.index(name) for name in names]  # record row of each traffic station
    prices = np.asarray(point.price_per_mwh, dtype=np.float64)[order]
    loads = np.asarray(point.station_load_mw, dtype=np.float64)[order]
    result = traffic.solve(prices, gap=gap, max_iterations=max_iterations,
                           warm_start=warm_start)
    ev_road, ev_station, every = travel_time_costs(traffic, result, period_hours)
    feeder = point.by_operator.get("dso", math.nan)
    terms = PaperCostTerms(
        operation=operation,
        status="ok" if result.converged else f"equilibrium {result.status}",
        ev_road_time_cost=ev_road, ev_station_time_cost=ev_station,
        charging_bill=float(np.sum(prices * loads)) * period_hours,
        feeder_cost=math.nan if feeder is None else float(feeder),
        all_vehicles_travel_cost=every,
        beckmann_potential=float(point.by_operator.get("traffic", math.nan)),
        ev_trips=float(np.sum(result.ev_demand_veh_per_h)) * period_hours,
        charging_energy_mwh=float(np.sum(loads)) * period_hours,
        load_mismatch_mw=float(np.max(np.abs(result.station_load_mw.T - loads)))
        if loads.size else 0.0,
    )
    return terms, result


def ev_travel_cost_from_od_costs(result: MultiPeriodResult, period_hours: float) -> float:
    """The EVs' travel-time cost read another way: Σ EV demand × the OD pair's equilibrium
    generalized cost, minus the charging payments (valid without departure shifting, where an
    EV's generalized cost is its time × ω plus its charging payment)."""
    demand = np.asarray(result.ev_demand_veh_per_h, dtype=np.float64)
    od_cost = np.nan_to_num(result.od_cost["EV"])
    payments = np.sum(np.asarray(result.price_per_mwh).T * result.station_load_mw)
    return float(np.sum(demand * od_cost) - payments) * period_hours


def saving_rows(terms: list[PaperCostTerms]) -> list[dict[str, float | str]]:
    """Each operation's saving against the first (the uncoordinated baseline) on each term:
    positive = lower than the baseline."""
    if not terms:
        return []
    base = terms[0]
    fields = ("ev_travel_cost", "charging_bill", "feeder_cost", "paper_objective",
              "social_cost")
    rows: list[dict[str, float | str]] = []
    for term in terms[1:]:
        row: dict[str, float | str] = {"operation": term.operation, "against": base.operation}
        for name in fields:
            before, after = float(getattr(base, name)), float(getattr(term, name))
            row[f"{name}_saving_usd"] = before - after
            row[f"{name}_saving_percent"] = 100.0 * (before - after) / before \
                if before else math.nan
        rows.append(row)
    return rows

