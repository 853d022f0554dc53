"""A joint-coordination experiment: baseline, ADMM negotiation, costs, and the reference.

Why this module exists: the issue's report for joint minimum-cost coordination (MODELS.md §5)
puts three ways of operating side by side, and this runs all three on any backend:

* **baseline** (uncoordinated): the traffic department answers a flat charging tariff, the DSO
  dispatches whatever load results (round 0 messages: RespondToPrices, Dispatch, ReportCost);
* **agreed**: the ADMM negotiation (:mod:`ptn.coordinator.mechanisms.admm`) started from the
  baseline's loads and station DLMPs; at the end each side reports its own cost;
* **centralized** (optional): the full-information joint optimum, computed by the ``reference``
  solver the caller passes (:func:`ptn.lab.references.joint.centralized_reference`: it reads
  every operator's table of the scenario file, which only an experimenter holding the whole
  file can do, so the runtime never imports it): a reference, never part of the negotiation.

``seconds`` of the outcome is the negotiation's (descriptions, baseline, rounds, cost reports);
the reference's own time is ``extra["centralized_seconds"]``.

Costs are $ over the horizon: the traffic side's is ``Δt ×`` its Beckmann potential without
charging payments, the DSO's its OPF cost; payments between them are transfers and cancel.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.admm import AdmmMechanism
from ptn.coordinator.outcome import CostSummary, NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.driver import (
    Driver,
    DriverSettings,
    NegotiationFailedError,
    OperatorRefusedError,
    read_checkpoint,
)
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import CoordinatorSettings, Scenario

#: a full-information reference: the scenario's optimum, or None and why it has none
ReferenceSolver = Callable[[Scenario], tuple[CostSummary | None, str]]
CONSUMER, SUPPLIER = "traffic", "dso"


def cost_summary(costs: dict[str, float], loads: np.ndarray, prices: np.ndarray) -> CostSummary:
    """Costs by operator, their total, and the operating point's loads and prices."""
    return CostSummary(total=float(sum(costs.values())), by_operator=dict(costs),
                       station_load_mw=np.asarray(loads, dtype=np.float64),
                       price_per_mwh=np.asarray(prices, dtype=np.float64))


def summary_to_json(summary: CostSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"total": summary.total, "by_operator": summary.by_operator,
            "station_load_mw": summary.station_load_mw.tolist(),
            "price_per_mwh": summary.price_per_mwh.tolist(),
            "status": summary.status, "message": summary.message}


def summary_from_json(data: dict[str, Any] | None) -> CostSummary | None:
    if data is None:
        return None
    def number(value: Any) -> float:
        return math.nan if value is None else float(value)

    return CostSummary(total=number(data["total"]),
                       by_operator={k: number(v) for k, v in data["by_operator"].items()},
                       station_load_mw=np.asarray(data["station_load_mw"], dtype=np.float64),
                       price_per_mwh=np.asarray(data["price_per_mwh"], dtype=np.float64),
                       status=str(data.get("status", "ok")), message=str(data.get("message", "")))


def check_descriptions(scenario: Scenario, infos: dict[str, common_pb2.OperatorInfo]) -> None:
    """Every operator must use the scenario's public stations and periods."""
    public = scenario.public
    for operator_id, info in infos.items():
        if tuple(info.stations) != public.stations:
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
    loads_reply = driver.call(CONSUMER, "RespondToPrices", common_pb2.PriceSignal(
        price_per_mwh=to_series(public.stations, tariff)))
    loads = from_series(loads_reply.load_mw, public.stations,  # type: ignore[attr-defined]
                        public.periods, "load_mw")
    traffic_cost = driver.call(CONSUMER, "ReportCost", common_pb2.CostRequest())
    try:
        dispatch = driver.call(SUPPLIER, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(public.stations, loads)))
    except OperatorRefusedError as refusal:
        if refusal.status != "STATUS_INFEASIBLE":
            raise
        # the grid cannot serve the uncoordinated charging: a result, not a failure; the
        # negotiation starts from the flat tariff instead of the baseline's DLMPs
        costs = {CONSUMER: float(traffic_cost.cost),  # type: ignore[attr-defined]
                 SUPPLIER: math.nan}
        summary = replace(cost_summary(costs, loads, tariff), status="infeasible",
                          message=f"the uncoordinated operation is infeasible: {refusal}")
        return summary, tariff
    dlmp = from_series(dispatch.price_per_mwh, public.stations,  # type: ignore[attr-defined]
                       public.periods, "price_per_mwh")
    costs = {CONSUMER: float(traffic_cost.cost),  # type: ignore[attr-defined]
             SUPPLIER: float(dispatch.cost)}  # type: ignore[attr-defined]
    return cost_summary(costs, loads, tariff), dlmp


def driver_settings(settings: CoordinatorSettings, folder: Path | None, *,
                    max_rounds: int | None = None,
                    crash_after_round: int | None = None) -> DriverSettings:
    """A negotiation's driver settings: the scenario's deadlines and retries, its checkpoint and
    transcript in ``folder`` (none without one), ``max_rounds`` overriding the scenario's."""
    return DriverSettings(
        max_rounds=max_rounds or settings.max_rounds, call_timeout_s=settings.call_timeout_s,
        retries=settings.retries,
        checkpoint_path=folder / "checkpoint.json" if folder is not None else None,
        transcript_path=folder / "transcript.jsonl" if folder is not None else None,
        crash_after_round=crash_after_round)


def run_joint_coordination(
    scenario: Scenario,
    endpoints: dict[str, Endpoint],
    *,
    out: Path | None = None,
    metrics: CoordinatorMetrics | None = None,
    progress: Callable[[RoundRecord], None] | None = None,
    resume: Path | None = None,
    reference: ReferenceSolver | None = None,
    crash_after_round: int | None = None,
    max_rounds: int | None = None,
) -> NegotiationOutcome:
    """Baseline, ADMM negotiation, agreed costs and, given a ``reference`` solver, the
    centralized reference."""
    started = time.perf_counter()
    settings = scenario.coordinator
    public = scenario.public
    for needed in (CONSUMER, SUPPLIER):
        if needed not in endpoints:
            raise InvalidInputError(f"joint coordination needs an endpoint for {needed!r}")
    checkpoint = read_checkpoint(resume) if resume is not None else None
    driver = Driver(endpoints, driver_settings(settings, out, max_rounds=max_rounds,
                                               crash_after_round=crash_after_round),
                    metrics, progress=progress)
    if checkpoint is not None:
        driver.negotiation_id = str(checkpoint["negotiation_id"])
    baseline: CostSummary | None = None
    agreed: CostSummary | None = None
    try:
        check_descriptions(scenario, driver.describe_all())
        if checkpoint is not None:
            context = checkpoint.get("context", {})
            baseline = summary_from_json(context.get("baseline"))
            start_price = np.asarray(context["start_price_per_mwh"], dtype=np.float64)
        else:
            baseline, start_price = evaluate_baseline(driver, scenario)
        assert baseline is not None
        driver.context = {"baseline": summary_to_json(baseline),
                          "start_price_per_mwh": start_price.tolist()}
        mechanism = AdmmMechanism(
            public.stations, public.periods, consumer=CONSUMER, supplier=SUPPLIER,
            initial_price_per_mwh=start_price, initial_supplier_load_mw=baseline.station_load_mw,
            initial_penalty_per_mw2h=settings.initial_penalty_per_mw2h,
            tolerance=settings.tolerance, residual_balancing=settings.residual_balancing,
        )
        outcome = driver.run(mechanism, checkpoint=checkpoint)
        if outcome.status != NegotiationStatus.FAILED:
            costs = {}
            for operator_id in (CONSUMER, SUPPLIER):
                report = driver.call(operator_id, "ReportCost", common_pb2.CostRequest())
                costs[operator_id] = float(report.cost)  # type: ignore[attr-defined]
            agreed = cost_summary(costs, mechanism.consumer_load, mechanism.price)
    except NegotiationFailedError as error:
        driver.close()
        return NegotiationOutcome(
            negotiation_id=driver.negotiation_id, mechanism=AdmmMechanism.name,
            status=NegotiationStatus.FAILED, message=str(error), stations=public.stations,
            periods=public.periods, period_hours=public.period_hours, rounds=(),
            seconds=time.perf_counter() - started, baseline=baseline)
    driver.close()
    negotiation_seconds = time.perf_counter() - started
    reference_started = time.perf_counter()
    centralized, problem = reference(scenario) if reference is not None else (None, "")
    baseline_note = baseline.message if baseline is not None else ""
    message = "; ".join(m for m in (outcome.message, baseline_note, problem) if m)
    extra = {"tolerance": settings.tolerance}
    if reference is not None:
        extra["centralized_seconds"] = time.perf_counter() - reference_started
    if agreed is not None and centralized is not None:
        extra["max_load_difference_to_centralized_mw"] = float(
            np.max(np.abs(agreed.station_load_mw - centralized.station_load_mw)))
    return NegotiationOutcome(
        negotiation_id=outcome.negotiation_id, mechanism=outcome.mechanism,
        status=outcome.status, message=message, stations=public.stations,
        periods=public.periods, period_hours=public.period_hours, rounds=outcome.rounds,
        seconds=negotiation_seconds, agreed=agreed, baseline=baseline,
        centralized=centralized, extra=extra,
    )
