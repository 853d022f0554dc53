"""Seed 000's two-stage profit sharing between the DNO and the TNO, negotiated privately.

Why this module exists: seed 000 ("A Profit Sharing Mechanism for Coordinated Power Traffic
System"; MODELS.md §4) has the DNO (the DSO) pay the TNO a share ρ of the dispatch cost the
TNO's rescheduling saves it. Here the two stages run between operators that share no model:

1. **Prescheduling**: the TNO plans its fleet's charging alone (its ADMM step with no
   coordination terms, ``ConsensusStep`` at λ = 0, ρ_admm = 0); the DSO dispatches against the
   result (``Dispatch``): its original cost C0.
2. **Rescheduling at a share ρ**: the TNO's problem ``min C_TNO(x) − ρ·(C0 − C_DSO(x))`` is
   ``min C_TNO + ρ·C_DSO`` up to a constant, which ADMM solves between the two over the station
   loads (:class:`ptn.coordinator.mechanisms.admm.AdmmMechanism` with the DSO's cost weighted by ρ;
   the DSO sees only prices scaled by 1/ρ). The DSO then reports its dispatch cost at the
   TNO's plan, and the TNO its own cost (``ConsiderShare``, which also says whether the offer
   leaves it better off than planning alone).
3. **The DNO's choice of ρ** (the leader's problem): its total cost
   ``C_DSO(x*(ρ)) + ρ·(C0 − C_DSO(x*(ρ)))`` over a sweep of ρ, then a branch and bound between
   the sweep's points (:func:`refine_shares`) that exploits the monotonicity of the follower's
   response; each evaluation is one negotiation, warm-started from the nearest share already
   negotiated. At ρ* the DNO pays ``ρ*·(C0 − C_DSO)`` (``Settle``).

ρ = 0 needs no negotiation: the follower ignores the DSO, so its plan is the preschedule.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.mechanisms.admm import AdmmMechanism
from ptn.coordinator.mechanisms.joint_coordination import driver_settings
from ptn.coordinator.outcome import FloatArray, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.driver import Driver, NegotiationFailedError
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import Scenario

TNO, DSO = "tno", "dso"


@dataclass(frozen=True)
class ShareEvaluation:
    """The negotiated rescheduling at one share ρ and what each side reports of it ($)."""

    share: float
    status: NegotiationStatus
    rounds: int
    dso_cost_usd: float  # C_DSO at the TNO's plan (the DSO's dispatch)
    tno_cost_usd: float  # C_TNO of that plan, without the payment
    load_mw: FloatArray
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class ProfitSharingOutcome:
    """Prescheduling, every share negotiated (sorted by ρ), the DNO's choice and the payment."""

    scenario: str
    stations: tuple[str, ...]
    periods: int
    period_hours: float
    original_dso_cost_usd: float  # C0
    tno_cost_alone_usd: float
    preschedule_load_mw: FloatArray
    evaluations: tuple[ShareEvaluation, ...]
    best_share: float
    payment_usd: float
    tno_accepted: bool
    status: NegotiationStatus
    message: str
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    def dno_total_cost_usd(self, evaluation: ShareEvaluation) -> float:
        """The leader's objective: C_DSO + ρ·(C0 − C_DSO)."""
        saving = self.original_dso_cost_usd - evaluation.dso_cost_usd
        return evaluation.dso_cost_usd + evaluation.share * saving

    def tno_benefit_usd(self, evaluation: ShareEvaluation) -> float:
        """The follower's gain over planning alone: its cost change plus the payment."""
        saving = self.original_dso_cost_usd - evaluation.dso_cost_usd
        return self.tno_cost_alone_usd - evaluation.tno_cost_usd + evaluation.share * saving

    @property
    def best(self) -> ShareEvaluation:
        return min((e for e in self.evaluations if e.share == self.best_share),
                   key=self.dno_total_cost_usd)

    @property
    def converged(self) -> bool:
        return self.status == NegotiationStatus.CONVERGED


@dataclass
class _Search:
    """The private search's state: the negotiations so far, by share."""

    scenario: Scenario
    endpoints: dict[str, Endpoint]
    out: Path | None
    metrics: CoordinatorMetrics | None
    progress: Callable[[RoundRecord], None] | None
    original_cost: float
    preschedule: FloatArray
    start_price: FloatArray
    evaluations: dict[float, ShareEvaluation] = field(default_factory=dict)
    prices: dict[float, FloatArray] = field(default_factory=dict)
    base_id: str = ""

    def negotiate(self, share: float, *, again: bool = False) -> ShareEvaluation:
        """One rescheduling negotiation at ``share`` (cached unless ``again``: then it is held
        anew, warm-started from its own result, so that both sides' current plans are it)."""
        share = round(float(share), 10)
        if share in self.evaluations and not again:
            return self.evaluations[share]
        public = self.scenario.public
        started = time.perf_counter()
        driver = self._driver(f"{self.base_id}-rho{share:.6f}")
        try:
            if share == 0.0:  # the follower ignores the DSO: its plan alone
                loads = plan_alone(driver, public.stations, public.periods)
                rounds, status, message = 0, NegotiationStatus.CONVERGED, ""
            else:
                near = min(self.prices, key=lambda known: abs(known - share)) \
                    if self.prices else None
                price = self.prices[near] if near is not None else self.start_price
                start_loads = self.evaluations[near].load_mw if near is not None \
                    and near in self.evaluations else self.preschedule
                mechanism = AdmmMechanism(
                    public.stations, public.periods, consumer=TNO, supplier=DSO,
                    initial_price_per_mwh=price, initial_supplier_load_mw=start_loads,
                    initial_penalty_per_mw2h=self.scenario.coordinator.initial_penalty_per_mw2h,
                    tolerance=self.scenario.coordinator.tolerance,
                    residual_balancing=self.scenario.coordinator.residual_balancing,
                    supplier_weight=share)
                outcome = driver.run(mechanism)
                if outcome.status == NegotiationStatus.FAILED:
                    raise NegotiationFailedError(outcome.message)
                loads, rounds = mechanism.consumer_load, len(outcome.rounds)
                status, message = outcome.status, outcome.message
                self.prices[share] = mechanism.price
            dispatch: Any = driver.call(DSO, "Dispatch", common_pb2.LoadSignal(
                load_mw=to_series(public.stations, loads)))
            saving = self.original_cost - float(dispatch.cost)
            answer: Any = driver.call(TNO, "ConsiderShare", games_pb2.ProfitShareOffer(
                share=share, reference_cost=self.original_cost, payment=share * saving))
        finally:
            driver.close(endpoints=False)
        evaluation = ShareEvaluation(share, status, rounds, float(dispatch.cost),
                                     float(answer.cost), np.asarray(loads, dtype=np.float64),
                                     time.perf_counter() - started, message)
        self.evaluations[share] = evaluation
        return evaluation

    def leader_cost(self, share: float) -> float:
        evaluation = self.negotiate(share)
        return evaluation.dso_cost_usd + evaluation.share * (self.original_cost
                                                             - evaluation.dso_cost_usd)

    def _driver(self, negotiation_id: str) -> Driver:
        settings = driver_settings(self.scenario.coordinator, None)
        if self.out is not None:  # every negotiation's messages in the experiment's transcript
            settings = replace(settings, transcript_path=self.out / "transcript.jsonl")
        return Driver(self.endpoints, settings, self.metrics, negotiation_id=negotiation_id,
                      progress=self.progress)


def plan_alone(driver: Driver, stations: tuple[str, ...], periods: int) -> FloatArray:
    """The TNO's plan without coordination: its ADMM step at λ = 0 and zero penalty."""
    zero = to_series(stations, np.zeros((len(stations), periods)))
    reply: Any = driver.call(TNO, "ConsensusStep", common_pb2.ConsensusStep(
        price_per_mwh=zero, target_load_mw=zero, penalty_per_mw2h=0.0))
    return from_series(reply.load_mw, stations, periods, "load_mw")


def refine_shares(search: _Search, tolerance: float) -> None:
    """Branch and bound over the shares between the sweep's points, to ``tolerance``.

    The follower's DSO cost ``g(ρ) = C_DSO(x*(ρ))`` is non-increasing in ρ for any choice among
    its optima (if x₁ is optimal at ρ₁ < ρ₂ and x₂ at ρ₂, adding the two optimality inequalities
    of ``min C_TNO + ρ·C_DSO`` gives ``(ρ₂ − ρ₁)(g₂ − g₁) ≤ 0``). On (a, b] the leader's cost
    ``g + ρ·(C0 − g)`` is therefore at least ``g(b) + a·(C0 − g(a))``; an interval whose bound is
    not below the best cost found is discarded, the others are bisected. With an LP follower g is
    a step function and the leader's cost a sawtooth (it rises linearly on each step and drops
    where g does), which a local search such as golden section would not handle; this finds the
    drop that gives the lowest cost, to within ``tolerance`` in ρ.
    """
    original = search.original_cost
    slack = 1e-7 * abs(original)  # ADMM solves to ~1e-4 relative residuals, costs to ~1e-7
    while True:
        known = sorted(search.evaluations)
        best = min(search.leader_cost(share) for share in known)
        open_intervals = []
        for low, high in itertools.pairwise(known):
            if high - low <= tolerance:
                continue
            g_low = search.evaluations[low].dso_cost_usd
            g_high = search.evaluations[high].dso_cost_usd
            bound = g_high + low * (original - g_low)
            if bound < best - slack:
                open_intervals.append((low, high))
        if not open_intervals:
            return
        for low, high in open_intervals:
            search.negotiate((low + high) / 2)


def run_profit_sharing(
    scenario: Scenario,
    endpoints: dict[str, Endpoint],
    *,
    shares: tuple[float, ...] | None = None,
    refine_tolerance: float | None = None,
    out: Path | None = None,
    metrics: CoordinatorMetrics | None = None,
    progress: Callable[[RoundRecord], None] | None = None,
) -> ProfitSharingOutcome:
    """Prescheduling, the sweep of shares, the refinement, and the settlement at ρ*
    (``shares`` and ``refine_tolerance`` default to the scenario's)."""
    started = time.perf_counter()
    public = scenario.public
    shares = scenario.coordinator.shares if shares is None else shares
    refine_tolerance = scenario.coordinator.refine_tolerance if refine_tolerance is None \
        else refine_tolerance
    for needed in (TNO, DSO):
        if needed not in endpoints:
            raise InvalidInputError(f"profit sharing needs an endpoint for {needed!r}")
    if not shares or min(shares) < 0 or max(shares) > 1:
        raise InvalidInputError(f"shares must lie in [0, 1], got {shares}")
    driver = Driver(endpoints, driver_settings(scenario.coordinator, out), metrics)
    status, message = NegotiationStatus.CONVERGED, ""
    try:
        preschedule = plan_alone(driver, public.stations, public.periods)
        dispatch: Any = driver.call(DSO, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(public.stations, preschedule)))
        original = float(dispatch.cost)
        start_price = from_series(dispatch.price_per_mwh, public.stations, public.periods,
                                  "price_per_mwh")
        search = _Search(scenario, endpoints, out, metrics, progress, original, preschedule,
                         start_price, base_id=driver.negotiation_id)
        for share in sorted(shares):
            search.negotiate(share)
        refine_shares(search, refine_tolerance)
        best = min(search.evaluations, key=search.leader_cost)
        # the agreement: held once more at ρ*, so that the TNO answers for that plan
        agreed = search.negotiate(best, again=True)
        payment = best * (original - agreed.dso_cost_usd)
        answer: Any = driver.call(TNO, "ConsiderShare", games_pb2.ProfitShareOffer(
            share=best, reference_cost=original, payment=payment))
        accepted = bool(answer.accepted)
        driver.call(TNO, "Settle", games_pb2.Settlement(
            amount=payment if accepted else 0.0,
            reason=f"profit share {best:.4f} of the DNO's saving"))
        not_converged = [e.share for e in search.evaluations.values()
                         if e.status != NegotiationStatus.CONVERGED]
        if not_converged:
            status = NegotiationStatus.NOT_CONVERGED
            message = f"ADMM did not converge at shares {not_converged}"
        tno_alone = float(answer.cost_alone)
        reported_benefit = float(answer.benefit)
    except NegotiationFailedError as error:
        driver.close()
        return ProfitSharingOutcome(
            scenario=public.name, stations=public.stations, periods=public.periods,
            period_hours=public.period_hours, original_dso_cost_usd=float("nan"),
            tno_cost_alone_usd=float("nan"), preschedule_load_mw=np.zeros(0), evaluations=(),
            best_share=float("nan"), payment_usd=float("nan"), tno_accepted=False,
            status=NegotiationStatus.FAILED, message=str(error),
            seconds=time.perf_counter() - started)
    driver.close()
    return ProfitSharingOutcome(
        scenario=public.name, stations=public.stations, periods=public.periods,
        period_hours=public.period_hours, original_dso_cost_usd=original,
        tno_cost_alone_usd=tno_alone, preschedule_load_mw=preschedule,
        evaluations=tuple(search.evaluations[s] for s in sorted(search.evaluations)),
        best_share=best, payment_usd=payment if accepted else 0.0, tno_accepted=accepted,
        status=status, message=message, seconds=time.perf_counter() - started,
        extra={"tno_reported_benefit_usd": reported_benefit})
