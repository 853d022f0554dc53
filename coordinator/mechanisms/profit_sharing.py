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

It is one mechanism over the one driver (:class:`ProfitSharing`): its driver rounds are the
prescheduling, then every ADMM round of every share (the last one of a share also asks the DSO
for its dispatch and the TNO for its answer to the share), then the settlement; every one is
checkpointed, so the whole search resumes after a crash. Each share is its own part of the run
(negotiation id ``<id>/rho<share>``, and ``<id>/agreement`` for the final one).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ptn.coordinator.mechanisms.admm import ROUND_FIELDS, ROUND_GAUGES, AdmmNegotiation
from ptn.coordinator.outcome import FloatArray, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.mechanism import Call, Exchange, Mechanism, RunSummary
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import Scenario

if TYPE_CHECKING:
    from ptn.coordinator.runtime.driver import Driver

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
    negotiation_id: str = ""
    #: every ADMM round of every share (stage: the share's part of the run)
    rounds: tuple[RoundRecord, ...] = ()
    #: what operators said beside their usable replies, one line per operator and RPC
    warnings: tuple[str, ...] = ()

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


def plan_alone_exchange(stations: tuple[str, ...], periods: int, scope: str = ""
                        ) -> Exchange[FloatArray]:
    """The TNO's plan without coordination: its ADMM step at λ = 0 and zero penalty."""
    zero = to_series(stations, np.zeros((len(stations), periods)))
    reply: Any = (yield [Call(TNO, "ConsensusStep", common_pb2.ConsensusStep(
        price_per_mwh=zero, target_load_mw=zero, penalty_per_mw2h=0.0), scope)])[TNO]
    return from_series(reply.load_mw, stations, periods, "load_mw")


def open_intervals(evaluations: dict[float, ShareEvaluation], original_cost: float,
                   tolerance: float) -> list[tuple[float, float]]:
    """The intervals between negotiated shares where a lower leader cost may hide.

    The follower's DSO cost ``g(ρ) = C_DSO(x*(ρ))`` is non-increasing in ρ for any choice among
    its optima (if x₁ is optimal at ρ₁ < ρ₂ and x₂ at ρ₂, adding the two optimality inequalities
    of ``min C_TNO + ρ·C_DSO`` gives ``(ρ₂ − ρ₁)(g₂ − g₁) ≤ 0``). On (a, b] the leader's cost
    ``g + ρ·(C0 − g)`` is therefore at least ``g(b) + a·(C0 − g(a))``; an interval whose bound is
    not below the best cost found (or narrower than ``tolerance``) is discarded, the others are
    bisected. With an LP follower g is a step function and the leader's cost a sawtooth (it
    rises linearly on each step and drops where g does), which a local search such as golden
    section would not handle; this branch and bound finds the drop that gives the lowest cost,
    to within ``tolerance`` in ρ.
    """
    slack = 1e-7 * abs(original_cost)  # ADMM solves to ~1e-4 relative residuals, costs ~1e-7
    known = sorted(evaluations)
    best = min(leader_cost(evaluations[share], original_cost) for share in known)
    found = []
    for low, high in itertools.pairwise(known):
        if high - low <= tolerance:
            continue
        g_low, g_high = evaluations[low].dso_cost_usd, evaluations[high].dso_cost_usd
        if g_high + low * (original_cost - g_low) < best - slack:
            found.append((low, high))
    return found


def leader_cost(evaluation: ShareEvaluation, original_cost: float) -> float:
    """The DNO's total cost at a negotiated share: ``C_DSO + ρ·(C0 − C_DSO)``."""
    return evaluation.dso_cost_usd + evaluation.share * (original_cost - evaluation.dso_cost_usd)


def _share_key(share: float) -> float:
    return round(float(share), 10)


@dataclass
class _Negotiation:
    """The share being negotiated: its ADMM (None at ρ = 0), whether it is the final
    agreement, and the seconds spent on it so far."""

    share: float
    admm: AdmmNegotiation | None
    agreement: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class _Settlement:
    """The end: the TNO's answer to the final offer and the payment."""

    payment_usd: float
    accepted: bool
    tno_cost_alone_usd: float
    reported_benefit_usd: float


class ProfitSharing(Mechanism[ProfitSharingOutcome]):
    """The ``profit-sharing`` mechanism (see the module docstring).

    Phases: ``preschedule`` (one driver round), ``search`` (the sweep of the scenario's shares,
    then the branch and bound of :func:`open_intervals`), ``agreement`` (the best share
    negotiated once more), ``settle`` (one driver round), ``done``.
    """

    name = "profit-sharing"
    round_fields = ROUND_FIELDS
    round_gauges = ROUND_GAUGES

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        settings = scenario.coordinator
        if not settings.shares or min(settings.shares) < 0 or max(settings.shares) > 1:
            raise ValueError(f"shares must lie in [0, 1], got {settings.shares}")
        self.phase = "preschedule"
        self.pending: list[float] = sorted({_share_key(s) for s in settings.shares})
        self.original_cost = float("nan")
        self.preschedule: FloatArray = np.zeros(0)
        self.start_price: FloatArray = np.zeros(0)
        self.evaluations: dict[float, ShareEvaluation] = {}
        self.prices: dict[float, FloatArray] = {}
        self.current: _Negotiation | None = None
        self.best_share = float("nan")
        self.settlement: _Settlement | None = None

    # ------------------------------------------------------------------ the search
    def finished(self) -> bool:
        return self.phase == "done"

    def round_exchange(self, driver_round: int) -> Exchange[RoundRecord | None]:
        started = time.perf_counter()
        if self.phase == "preschedule":
            yield from self._preschedule()
            self.phase = "search"
            return None
        if self.phase == "settle":
            yield from self._settle()
            self.phase = "done"
            return None
        if self.current is None:
            share = self._next_share()
            if share is None:  # the search is over: the best share, negotiated once more
                self.best_share = min(self.evaluations, key=self._leader_cost)
                self.phase = "agreement"
                share = self.best_share
            self.current = self._start(share)
        current = self.current
        record: RoundRecord | None = None
        if current.admm is not None:
            record = yield from current.admm.round_exchange()
        if current.admm is None or current.admm.finished():
            yield from self._evaluate(current, time.perf_counter() - started)
            self.current = None
            if self.phase == "agreement":
                self.phase = "settle"
        else:
            current.seconds += time.perf_counter() - started
        return record

    def _leader_cost(self, share: float) -> float:
        return leader_cost(self.evaluations[share], self.original_cost)

    def _preschedule(self) -> Exchange[None]:
        """The TNO plans alone; the DSO dispatches it: C0 and the start prices (its DLMPs)."""
        public = self.scenario.public
        self.preschedule = yield from plan_alone_exchange(public.stations, public.periods)
        dispatch: Any = (yield [Call(DSO, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(public.stations, self.preschedule)))])[DSO]
        self.original_cost = float(dispatch.cost)
        self.start_price = from_series(dispatch.price_per_mwh, public.stations, public.periods,
                                       "price_per_mwh")

    def _next_share(self) -> float | None:
        """The next share of the sweep, else of the refinement; None when the search is over."""
        while True:
            while self.pending:
                share = self.pending.pop(0)
                if share not in self.evaluations:
                    return share
            refine = open_intervals(self.evaluations, self.original_cost,
                                    self.scenario.coordinator.refine_tolerance)
            if not refine:
                return None
            self.pending = [_share_key((low + high) / 2) for low, high in refine]

    def _start(self, share: float) -> _Negotiation:
        """A share's negotiation, warm-started from the nearest share already negotiated (the
        agreement from its own result)."""
        agreement = self.phase == "agreement"
        if share == 0.0:
            return _Negotiation(share, None, agreement)
        near = min(self.prices, key=lambda known: abs(known - share)) if self.prices else None
        price = self.prices[near] if near is not None else self.start_price
        loads = self.evaluations[near].load_mw if near is not None \
            and near in self.evaluations else self.preschedule
        return _Negotiation(share, AdmmNegotiation.for_scenario(
            self.scenario, consumer=TNO, supplier=DSO, initial_price_per_mwh=price,
            initial_supplier_load_mw=loads, supplier_weight=share,
            scope=_scope(share, agreement)), agreement)

    def _evaluate(self, current: _Negotiation, seconds: float) -> Exchange[None]:
        """The DSO's dispatch at the TNO's plan and the TNO's answer to the share."""
        public = self.scenario.public
        share, admm = current.share, current.admm
        scope = _scope(share, current.agreement)
        if admm is None:  # ρ = 0: the follower ignores the DSO, its plan alone
            loads = yield from plan_alone_exchange(public.stations, public.periods, scope)
            rounds, status, message = 0, NegotiationStatus.CONVERGED, ""
        else:
            loads, rounds = admm.consumer_load, admm.rounds
            converged = admm.converged()
            status = NegotiationStatus.CONVERGED if converged else \
                NegotiationStatus.NOT_CONVERGED
            message = "" if converged else f"not converged after {admm.max_rounds} rounds"
            self.prices[share] = admm.price.copy()
        dispatch: Any = (yield [Call(DSO, "Dispatch", common_pb2.LoadSignal(
            load_mw=to_series(public.stations, loads)), scope)])[DSO]
        saving = self.original_cost - float(dispatch.cost)
        answer: Any = (yield [Call(TNO, "ConsiderShare", games_pb2.ProfitShareOffer(
            share=share, reference_cost=self.original_cost, payment=share * saving),
            scope)])[TNO]
        self.evaluations[share] = ShareEvaluation(
            share, status, rounds, float(dispatch.cost), float(answer.cost),
            np.asarray(loads, dtype=np.float64), current.seconds + seconds, message)

    def _settle(self) -> Exchange[None]:
        """The final offer at ρ* (the TNO answers for the agreement's plan) and the payment."""
        best = self.best_share
        payment = best * (self.original_cost - self.evaluations[best].dso_cost_usd)
        answer: Any = (yield [Call(TNO, "ConsiderShare", games_pb2.ProfitShareOffer(
            share=best, reference_cost=self.original_cost, payment=payment))])[TNO]
        accepted = bool(answer.accepted)
        yield [Call(TNO, "Settle", games_pb2.Settlement(
            amount=payment if accepted else 0.0,
            reason=f"profit share {best:.4f} of the DNO's saving"))]
        self.settlement = _Settlement(payment if accepted else 0.0, accepted,
                                      float(answer.cost_alone), float(answer.benefit))

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        current = self.current
        return {
            "phase": self.phase, "pending": self.pending,
            "original_cost": self.original_cost, "preschedule": self.preschedule.tolist(),
            "start_price": self.start_price.tolist(), "best_share": self.best_share,
            "evaluations": [_evaluation_to_json(e) for e in self.evaluations.values()],
            "prices": [[share, price.tolist()] for share, price in self.prices.items()],
            "current": None if current is None else {
                "share": current.share, "agreement": current.agreement,
                "seconds": current.seconds,
                "admm": None if current.admm is None else current.admm.state()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.phase = str(state["phase"])
        self.pending = [float(s) for s in state["pending"]]
        self.original_cost = float(state["original_cost"])
        self.preschedule = np.asarray(state["preschedule"], dtype=np.float64)
        self.start_price = np.asarray(state["start_price"], dtype=np.float64)
        self.best_share = float(state["best_share"])
        self.evaluations = {e.share: e for e in map(_evaluation_from_json,
                                                    state["evaluations"])}
        self.prices = {float(share): np.asarray(price, dtype=np.float64)
                       for share, price in state["prices"]}
        self.current = None
        if state["current"] is not None:
            saved = state["current"]
            self.current = self._start(float(saved["share"]))
            self.current.seconds = float(saved["seconds"])
            if self.current.admm is not None:
                self.current.admm.restore(saved["admm"])

    # ------------------------------------------------------------------ the outcome
    def conclude(self, driver: Driver, run: RunSummary) -> ProfitSharingOutcome:
        settlement = self.settlement
        assert settlement is not None
        late = [e.share for e in self.evaluations.values()
                if e.status != NegotiationStatus.CONVERGED]
        return self._outcome(
            run, NegotiationStatus.NOT_CONVERGED if late else NegotiationStatus.CONVERGED,
            f"ADMM did not converge at shares {late}" if late else "", settlement)

    def failed(self, run: RunSummary) -> ProfitSharingOutcome:
        return self._outcome(run, NegotiationStatus.FAILED, run.failure, None)

    def _outcome(self, run: RunSummary, status: NegotiationStatus, message: str,
                 settlement: _Settlement | None) -> ProfitSharingOutcome:
        public = self.scenario.public
        nan = float("nan")
        outcome = ProfitSharingOutcome(
            scenario=public.name, stations=public.stations, periods=public.periods,
            period_hours=public.period_hours, original_dso_cost_usd=nan, tno_cost_alone_usd=nan,
            preschedule_load_mw=np.zeros(0), evaluations=(), best_share=nan, payment_usd=nan,
            tno_accepted=False, status=status, message=message, seconds=run.seconds,
            negotiation_id=run.negotiation_id, rounds=run.rounds, warnings=run.warnings)
        if settlement is None:  # a failed search reports nothing of its shares
            return outcome
        return replace(
            outcome, original_dso_cost_usd=self.original_cost,
            tno_cost_alone_usd=settlement.tno_cost_alone_usd,
            preschedule_load_mw=self.preschedule,
            evaluations=tuple(self.evaluations[s] for s in sorted(self.evaluations)),
            best_share=self.best_share, payment_usd=settlement.payment_usd,
            tno_accepted=settlement.accepted,
            extra={"tno_reported_benefit_usd": settlement.reported_benefit_usd})


def _scope(share: float, agreement: bool) -> str:
    """The part of the run a share's negotiation is (its negotiation id's suffix)."""
    return "agreement" if agreement else f"rho{share:.6f}"


def _evaluation_to_json(evaluation: ShareEvaluation) -> dict[str, Any]:
    return {"share": evaluation.share, "status": str(evaluation.status),
            "rounds": evaluation.rounds, "dso_cost_usd": evaluation.dso_cost_usd,
            "tno_cost_usd": evaluation.tno_cost_usd, "load_mw": evaluation.load_mw.tolist(),
            "seconds": evaluation.seconds, "message": evaluation.message}


def _evaluation_from_json(data: dict[str, Any]) -> ShareEvaluation:
    return ShareEvaluation(
        float(data["share"]), NegotiationStatus(data["status"]), int(data["rounds"]),
        float(data["dso_cost_usd"]), float(data["tno_cost_usd"]),
        np.asarray(data["load_mw"], dtype=np.float64), float(data["seconds"]),
        str(data["message"]))
