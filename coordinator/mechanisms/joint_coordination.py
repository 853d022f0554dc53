"""Joint minimum-cost coordination (seeds 002, 003): baseline, ADMM negotiation, agreed costs.

Why this module exists: the issue's report for joint minimum-cost coordination (MODELS.md §5)
puts three ways of operating side by side, and this mechanism produces the first two privately,
on any backend:

* **baseline** (uncoordinated, before round 1): the traffic department answers a flat charging
  tariff, the DSO dispatches whatever load results (RespondToPrices, ReportCost, Dispatch);
* **agreed**: the ADMM negotiation (:class:`~ptn.coordinator.mechanisms.admm.AdmmNegotiation`)
  started from the baseline's loads and station DLMPs; at the end each side reports its cost;
* **centralized** (optional): the full-information joint optimum, which only an experimenter
  holding every operator's table can compute (:func:`ptn.lab.references.joint.
  centralized_reference`); the caller attaches it with :func:`with_reference`, the runtime never
  computes it.

``seconds`` of the outcome is the negotiation's (descriptions, baseline, rounds, cost reports);
the reference's own time is ``extra["centralized_seconds"]``. Costs are $ over the horizon: the
traffic side's is ``Δt ×`` its Beckmann potential without charging payments, the DSO's its OPF
cost; payments between them are transfers and cancel.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ptn.coordinator.mechanisms.admm import ROUND_FIELDS, ROUND_GAUGES, AdmmNegotiation
from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.driver import NegotiationFailedError, OperatorRefusedError
from ptn.coordinator.runtime.mechanism import Exchange, Mechanism, RunSummary
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import Scenario

if TYPE_CHECKING:
    from ptn.coordinator.runtime.driver import Driver

#: a full-information reference: the scenario's optimum (a point whose status may say it has
#: no solution, :func:`failed_point`), or None, and why it has none
ReferenceSolver = Callable[[Scenario], tuple[CostSummary | None, str]]
CONSUMER, SUPPLIER = "traffic", "dso"
LOG = logging.getLogger("ptn.coordinator")


def cost_summary(costs: dict[str, float], loads: np.ndarray, prices: np.ndarray) -> CostSummary:
    """Costs by operator, their total, and the operating point's loads and prices."""
    return CostSummary(total=float(sum(costs.values())), by_operator=dict(costs),
                       station_load_mw=np.asarray(loads, dtype=np.float64),
                       price_per_mwh=np.asarray(prices, dtype=np.float64))


def summary_to_json(summary: CostSummary) -> dict[str, Any]:
    """A cost summary as JSON-able values (for checkpoints)."""
    return {"total": summary.total, "by_operator": summary.by_operator,
            "station_load_mw": summary.station_load_mw.tolist(),
            "price_per_mwh": summary.price_per_mwh.tolist(),
            "status": summary.status, "message": summary.message}


def summary_from_json(data: dict[str, Any]) -> CostSummary:
    """The inverse of :func:`summary_to_json` (``null`` costs are NaN)."""
    def number(value: Any) -> float:
        return math.nan if value is None else float(value)

    return CostSummary(total=number(data["total"]),
                       by_operator={k: number(v) for k, v in data["by_operator"].items()},
                       station_load_mw=np.asarray(data["station_load_mw"], dtype=np.float64),
                       price_per_mwh=np.asarray(data["price_per_mwh"], dtype=np.float64),
                       status=str(data.get("status", "ok")), message=str(data.get("message", "")))


def check_descriptions(scenario: Scenario, infos: dict[str, common_pb2.OperatorInfo], *,
                       own_stations_roles: tuple[str, ...] = ()) -> None:
    """Every operator must use the scenario's periods, and (but the roles that describe only
    their own stations, such as CNOs) its public stations."""
    public = scenario.public
    for operator_id, info in infos.items():
        if info.role not in own_stations_roles and tuple(info.stations) != public.stations:
            raise NegotiationFailedError(
                f"operator {operator_id} uses stations {list(info.stations)}, the scenario "
                f"{list(public.stations)}")
        if info.periods != public.periods or abs(info.period_hours - public.period_hours) > 1e-9:
            raise NegotiationFailedError(
                f"operator {operator_id} has {info.periods} periods of {info.period_hours:g} h, "
                f"the scenario {public.periods} of {public.period_hours:g} h")


def evaluate_baseline(driver: Driver, scenario: Scenario) -> tuple[CostSummary, np.ndarray]:
    """The uncoordinated operation at the flat tariff: (its costs, the DSO's station DLMPs)."""
    public = scenario.public
    tariff = np.full((len(public.stations), public.periods),
                     scenario.coordinator.baseline_tariff_per_mwh)
    loads_reply: Any = driver.call(CONSUMER, "RespondToPrices", common_pb2.PriceSignal(
        price_per_mwh=to_series(public.stations, tariff)))
    loads = from_series(loads_reply.load_mw, public.stations, public.periods, "load_mw")
    traffic_cost: Any = driver.call(CONSUMER, "ReportCost", common_pb2.CostRequest())
    try:
        dispatch: Any = driver.call(SUPPLIER, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(public.stations, loads)))
    except OperatorRefusedError as refusal:
        if refusal.status != "STATUS_INFEASIBLE":
            raise
        # the grid cannot serve the uncoordinated charging: a result, not a failure; the
        # negotiation starts from the flat tariff instead of the baseline's DLMPs
        costs = {CONSUMER: float(traffic_cost.cost), SUPPLIER: math.nan}
        summary = replace(cost_summary(costs, loads, tariff), status="infeasible",
                          message=f"the uncoordinated operation is infeasible on the power side "
                                  f"(the DSO cannot serve the charging at the flat "
                                  f"{scenario.coordinator.baseline_tariff_per_mwh:g} $/MWh "
                                  f"tariff): {refusal}")
        return summary, tariff
    dlmp = from_series(dispatch.price_per_mwh, public.stations, public.periods, "price_per_mwh")
    costs = {CONSUMER: float(traffic_cost.cost), SUPPLIER: float(dispatch.cost)}
    return cost_summary(costs, loads, tariff), dlmp


class JointCoordination(Mechanism[NegotiationOutcome]):
    """The ``admm`` mechanism: the baseline, then ADMM between the traffic department and the
    DSO until its stopping test or the scenario's round limit, then both sides' costs."""

    name = "admm"
    round_fields = ROUND_FIELDS
    round_gauges = ROUND_GAUGES

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.baseline: CostSummary | None = None
        self.admm: AdmmNegotiation | None = None

    def _negotiation(self, start_price: np.ndarray, start_load: np.ndarray) -> AdmmNegotiation:
        return AdmmNegotiation.for_scenario(
            self.scenario, consumer=CONSUMER, supplier=SUPPLIER,
            initial_price_per_mwh=start_price, initial_supplier_load_mw=start_load)

    # ------------------------------------------------------------------ hooks
    def begin(self, driver: Driver) -> None:
        check_descriptions(self.scenario, driver.describe_all([CONSUMER, SUPPLIER]))
        try:
            self.baseline, start_price = evaluate_baseline(driver, self.scenario)
        except OperatorRefusedError as refusal:
            # the baseline has no operating point: recorded with its side and reason (the
            # negotiation cannot start without the traffic side's answer, so it ends)
            side = "traffic" if refusal.operator_id == CONSUMER else "power"
            public = self.scenario.public
            self.baseline = failed_point(
                len(public.stations), public.periods, refusal.status.removeprefix(
                    "STATUS_").lower(),
                f"the uncoordinated operation failed on the {side} side: {refusal}")
            raise
        self.admm = self._negotiation(start_price, self.baseline.station_load_mw)

    def finished(self) -> bool:
        assert self.admm is not None
        return self.admm.finished()

    def round_exchange(self, driver_round: int) -> Exchange[RoundRecord | None]:
        assert self.admm is not None
        record = yield from self.admm.round_exchange()
        return record

    def state(self) -> dict[str, Any]:
        assert self.admm is not None and self.baseline is not None
        return {"baseline": summary_to_json(self.baseline), "admm": self.admm.state()}

    def restore(self, state: dict[str, Any]) -> None:
        self.baseline = summary_from_json(state["baseline"])
        self.admm = self._negotiation(np.asarray(state["admm"]["price_per_mwh"]),
                                      self.baseline.station_load_mw)
        self.admm.restore(state["admm"])

    def conclude(self, driver: Driver, run: RunSummary) -> NegotiationOutcome:
        assert self.admm is not None
        costs = {}
        for operator_id in (CONSUMER, SUPPLIER):
            report: Any = driver.call(operator_id, "ReportCost", common_pb2.CostRequest(),
                                      run.closing_round)
            costs[operator_id] = float(report.cost)
        agreed = cost_summary(costs, self.admm.consumer_load, self.admm.price)
        converged = self.admm.converged()
        message = "" if converged else self.admm.stop_reason()
        return self._outcome(run, NegotiationStatus.CONVERGED if converged
                             else NegotiationStatus.NOT_CONVERGED, message, agreed)

    def failed(self, run: RunSummary) -> NegotiationOutcome:
        return self._outcome(run, NegotiationStatus.FAILED, run.failure, None)

    def _outcome(self, run: RunSummary, status: NegotiationStatus, message: str,
                 agreed: CostSummary | None) -> NegotiationOutcome:
        public = self.scenario.public
        baseline_note = self.baseline.message if self.baseline is not None else ""
        if message and message in baseline_note:  # the baseline's failure ended the run
            message, baseline_note = baseline_note, ""
        return NegotiationOutcome(
            negotiation_id=run.negotiation_id, mechanism=self.name, status=status,
            message="; ".join(m for m in (message, baseline_note) if m),
            stations=public.stations, periods=public.periods, period_hours=public.period_hours,
            rounds=run.rounds, seconds=run.seconds, agreed=agreed, baseline=self.baseline,
            extra={"tolerance": self.scenario.coordinator.tolerance}, warnings=run.warnings,
            privacy=privacy_block(self.scenario, self.admm))


def privacy_block(scenario: Scenario, admm: AdmmNegotiation | None) -> dict[str, Any]:
    """The results' ``privacy`` block: the ``[privacy]`` settings and, per operator that noised
    its loads, the ε it reported spent (its accountant's best bound), its δ, its releases and
    whether its budget is spent; empty without a ``[privacy]`` mechanism."""
    settings = scenario.privacy
    if settings.mechanism == "none":
        return {}
    spent = {} if admm is None else {k: dict(v) for k, v in admm.privacy.items()}
    return {
        "mechanism": settings.mechanism, "epsilon_budget": settings.epsilon,
        "delta_budget": settings.delta, "rounds_planned": settings.rounds,
        "seed": settings.seed, "active": settings.active,
        "protected": {d.name: d.adjacency.describe() for d in settings.protected},
        "accountant": "the least epsilon of basic, advanced, zCDP and RDP composition",
        "budget_spent": admm is not None and admm.budget_spent(),
        "operators": spent,
    }


def failed_point(stations: int, periods: int, status: str, message: str) -> CostSummary:
    """An operating point without a solution: NaN costs and arrays, its status and why."""
    nan = np.full((stations, periods), np.nan)
    return CostSummary(total=math.nan, by_operator={CONSUMER: math.nan, SUPPLIER: math.nan},
                       station_load_mw=nan, price_per_mwh=nan.copy(), status=status,
                       message=message)


def with_reference(outcome: NegotiationOutcome, scenario: Scenario,
                   reference: ReferenceSolver) -> NegotiationOutcome:
    """``outcome`` with the full-information optimum solved by ``reference`` beside it (its
    time in ``extra["centralized_seconds"]``; why it has none in the message and in the
    centralized point's status). A reference that cannot be set up for this scenario (it
    raises, e.g. for elastic EV demand) is reported ``unavailable`` with the reason: the
    negotiation's results are written all the same."""
    started = time.perf_counter()
    shape = (len(outcome.stations), outcome.periods)
    try:
        solved, problem = reference(scenario)
        centralized = solved if solved is not None else failed_point(*shape, "failed", problem)
    except Exception as error:  # a side computation never ends the run
        LOG.debug("the centralized reference raised", exc_info=True)
        problem = f"the centralized reference is unavailable: {error}"
        centralized = failed_point(*shape, "unavailable", problem)
    extra = {**outcome.extra, "centralized_seconds": time.perf_counter() - started}
    if outcome.agreed is not None and centralized.feasible:
        extra["max_load_difference_to_centralized_mw"] = float(
            np.max(np.abs(outcome.agreed.station_load_mw - centralized.station_load_mw)))
    message = "; ".join(m for m in (outcome.message, problem) if m)
    return replace(outcome, centralized=centralized, extra=extra, message=message)
