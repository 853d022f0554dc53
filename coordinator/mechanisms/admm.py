"""Joint minimum-cost coordination by ADMM on the station loads (MODELS.md §5).

Why this module exists: it is the private way to the joint optimum of seeds 002 and 003. Two
operators, a consuming side ``a`` (the traffic department) and a supplying side ``b`` (the DSO),
each hold a copy of the station loads ``P`` (stations × periods, MW) and must agree. With
``Δt`` the period length, the joint problem ``min f_a(P_a) + f_b(P_b)  s.t.  P_a = P_b`` has the
augmented Lagrangian ``f_a + f_b + Σ Δt·[λ·(P_a − P_b) + (ρ/2)·(P_a − P_b)²]``, and two-block
ADMM (Boyd, Parikh, Chu, Peleato & Eckstein 2011, "Distributed optimization and statistical
learning via the alternating direction method of multipliers", §3) alternates, per round k:

1. ``P_a ← argmin f_a(P) + Σ Δt·[λ·P + (ρ/2)(P − P_b)²]``   (traffic: ConsensusStep)
2. ``P_b ← argmin f_b(P) − Σ Δt·[λ·P − (ρ/2)(P_a − P)²]``   (DSO: ConsensusStep)
3. ``λ ← λ + ρ·(P_a − P_b)``                                 (the coordinator)

``λ`` is the price of charging energy ($/MWh): at convergence it equals the DSO's DLMP at each
station's bus, and the traffic equilibrium at that price is the joint optimum. Stopping test
(Boyd §3.3.1, relative form): ``‖P_a − P_b‖ ≤ ε·max(‖P_a‖, ‖P_b‖)`` and
``ρ·‖P_b^k − P_b^(k−1)‖ ≤ ε·‖λ‖``. Residual balancing (Boyd §3.4.1; He, Yang & Wang 2000):
``ρ ×= τ`` when the primal residual exceeds ``μ`` times the dual one, ``ρ /= τ`` in the
opposite case (``μ = 10, τ = 2``); λ is unscaled, so it needs no rescaling when ρ changes.

A weight ``w > 0`` on the supplier's cost (seed 000's rescheduling, MODELS.md §4: the TNO
minimizes ``C_TNO + w·C_DSO`` for a profit share ``w``) is run as ADMM on the equivalent
``min f_a/w + f_b``: step 1 becomes ``argmin f_a(P)/w + Σ Δt·[λ·P + (ρ/2)(P − P_b)²]``, which
the consumer solves as its ordinary step at price ``w·λ`` and penalty ``w·ρ``; the supplier's
step is unchanged, so λ stays on the scale of its marginal cost (scaling the supplier's step by
``1/w`` instead made its OPF ill-conditioned at small shares: Clarabel failed outright).
Neither side needs to know ``w``.

The coordinator sees only λ, ρ and the two load matrices (and, at the end, each side's cost).

Differential privacy (``[privacy]``, docs/privacy-mechanisms.md): an operator that protects its
loads noises them in its own model and says in its reply what its accountant has spent
(``LoadReply.privacy``); the negotiation keeps the latest per operator (:attr:`privacy`) and
stops, with the status ``privacy budget spent after N rounds``, once an operator says its budget
admits no further release. Without noise the replies carry nothing and nothing changes.

:class:`AdmmNegotiation` is one such negotiation as a component of a mechanism: the joint
minimum-cost coordination (:mod:`ptn.coordinator.mechanisms.joint_coordination`) runs one, the
profit sharing of seed 000 (:mod:`ptn.coordinator.mechanisms.profit_sharing`) one per share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ptn.coordinator.outcome import FloatArray, RoundRecord
from ptn.coordinator.runtime.mechanism import Call, Exchange, RoundGauge
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import Scenario

BALANCING_RATIO = 10.0  # μ
BALANCING_FACTOR = 2.0  # τ

#: the round fields of an ADMM round (the record's ``values``)
ROUND_FIELDS = ("primal_residual", "dual_residual", "penalty_per_mw2h")
#: ... and their gauges
ROUND_GAUGES = (
    RoundGauge("primal_residual", "ptn_negotiation_primal_residual",
               "ADMM: relative primal residual ||P_a - P_b|| / max(||P_a||, ||P_b||) of the "
               "last round."),
    RoundGauge("dual_residual", "ptn_negotiation_dual_residual",
               "ADMM: relative dual residual rho*||z_k - z_(k-1)|| / ||lambda|| of the last "
               "round."),
    RoundGauge("penalty_per_mw2h", "ptn_negotiation_penalty_per_mw2h",
               "ADMM: the penalty rho ($/MW^2h) of the last round."),
)


class AdmmNegotiation:
    """Two-block consensus ADMM between a consuming and a supplying operator, round by round.

    ``scope`` (empty: the run's own negotiation id) names the part of a run it is, for its
    calls' negotiation id and its records' stage. It is finished once converged or after
    ``max_rounds`` rounds.
    """

    def __init__(
        self,
        stations: tuple[str, ...],
        periods: int,
        *,
        consumer: str = "traffic",
        supplier: str = "dso",
        initial_price_per_mwh: FloatArray,
        initial_supplier_load_mw: FloatArray,
        initial_penalty_per_mw2h: float = 50.0,
        tolerance: float = 1e-4,
        residual_balancing: bool = True,
        supplier_weight: float = 1.0,
        max_rounds: int = 200,
        scope: str = "",
    ) -> None:
        if not (np.isfinite(supplier_weight) and supplier_weight > 0):
            raise ValueError(f"supplier_weight must be positive, got {supplier_weight}")
        self.supplier_weight = float(supplier_weight)
        self.stations = stations
        self.periods = periods
        self.consumer = consumer
        self.supplier = supplier
        self.tolerance = tolerance
        self.residual_balancing = residual_balancing
        self.max_rounds = max_rounds
        self.scope = scope
        shape = (len(stations), periods)
        self.price = np.asarray(initial_price_per_mwh, dtype=np.float64).reshape(shape).copy()
        self.supplier_load = np.asarray(initial_supplier_load_mw,
                                        dtype=np.float64).reshape(shape).copy()
        self.consumer_load = self.supplier_load.copy()
        self.penalty = float(initial_penalty_per_mw2h)
        self.primal_residual = float("inf")
        self.dual_residual = float("inf")
        self.rounds = 0
        #: the privacy spent by each operator that noises its loads, as its latest reply said
        self.privacy: dict[str, dict[str, Any]] = {}

    @classmethod
    def for_scenario(cls, scenario: Scenario, *, consumer: str, supplier: str,
                     initial_price_per_mwh: FloatArray, initial_supplier_load_mw: FloatArray,
                     supplier_weight: float = 1.0, scope: str = "") -> AdmmNegotiation:
        """A negotiation on the scenario's stations and periods with its ``[coordinator]``
        settings (initial penalty, tolerance, residual balancing, round limit)."""
        settings, public = scenario.coordinator, scenario.public
        return cls(public.stations, public.periods, consumer=consumer, supplier=supplier,
                   initial_price_per_mwh=initial_price_per_mwh,
                   initial_supplier_load_mw=initial_supplier_load_mw,
                   initial_penalty_per_mw2h=settings.initial_penalty_per_mw2h,
                   tolerance=settings.tolerance, residual_balancing=settings.residual_balancing,
                   supplier_weight=supplier_weight, max_rounds=settings.max_rounds, scope=scope)

    def converged(self) -> bool:
        return self.primal_residual <= self.tolerance and self.dual_residual <= self.tolerance

    def budget_spent(self) -> bool:
        """Whether an operator's privacy budget admits no further release."""
        return any(spent["exhausted"] for spent in self.privacy.values())

    def finished(self) -> bool:
        return self.converged() or self.rounds >= self.max_rounds or self.budget_spent()

    def stop_reason(self) -> str:
        """Why an unconverged negotiation stopped: the round limit or a spent budget."""
        if self.budget_spent():
            who = ", ".join(i for i, spent in self.privacy.items() if spent["exhausted"])
            return f"privacy budget spent after {self.rounds} rounds ({who})"
        return f"not converged after {self.max_rounds} rounds"

    def round_exchange(self) -> Exchange[RoundRecord]:
        """One round: the consumer's step, the supplier's step, the price update."""
        penalty = self.penalty
        reply: Any = (yield [Call(self.consumer, "ConsensusStep",
                                  self._step(self.supplier_load, self.supplier_weight),
                                  self.scope)])[self.consumer]
        self.consumer_load = self._loads(reply, self.consumer)
        reply = (yield [Call(self.supplier, "ConsensusStep", self._step(self.consumer_load),
                             self.scope)])[self.supplier]
        previous = self.supplier_load
        self.supplier_load = self._loads(reply, self.supplier)
        difference = self.consumer_load - self.supplier_load
        self.price = self.price + penalty * difference
        scale = max(float(np.linalg.norm(self.consumer_load)),
                    float(np.linalg.norm(self.supplier_load)), 1e-12)
        self.primal_residual = float(np.linalg.norm(difference)) / scale
        self.dual_residual = penalty * float(np.linalg.norm(self.supplier_load - previous)) / max(
            float(np.linalg.norm(self.price)), 1e-12)
        if self.residual_balancing and not self.converged():
            if self.primal_residual > BALANCING_RATIO * self.dual_residual:
                self.penalty = penalty * BALANCING_FACTOR
            elif self.dual_residual > BALANCING_RATIO * self.primal_residual:
                self.penalty = penalty / BALANCING_FACTOR
        self.rounds += 1
        return RoundRecord(
            round=self.rounds, seconds=0.0, stage=self.scope,
            values={"primal_residual": self.primal_residual,
                    "dual_residual": self.dual_residual, "penalty_per_mw2h": penalty},
            price_per_mwh=self.price.copy(),
            load_mw={self.consumer: self.consumer_load.copy(),
                     self.supplier: self.supplier_load.copy()},
        )

    def state(self) -> dict[str, Any]:
        return {
            "price_per_mwh": self.price.tolist(),
            "consumer_load_mw": self.consumer_load.tolist(),
            "supplier_load_mw": self.supplier_load.tolist(),
            "penalty_per_mw2h": self.penalty,
            "primal_residual": self.primal_residual,
            "dual_residual": self.dual_residual,
            "rounds": self.rounds,
            **({"privacy": self.privacy} if self.privacy else {}),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.price = np.asarray(state["price_per_mwh"], dtype=np.float64)
        self.consumer_load = np.asarray(state["consumer_load_mw"], dtype=np.float64)
        self.supplier_load = np.asarray(state["supplier_load_mw"], dtype=np.float64)
        self.penalty = float(state["penalty_per_mw2h"])
        self.primal_residual = float(state["primal_residual"])
        self.dual_residual = float(state["dual_residual"])
        self.rounds = int(state["rounds"])
        self.privacy = {k: dict(v) for k, v in state.get("privacy", {}).items()}

    # ------------------------------------------------------------------ helpers
    def _step(self, target_mw: FloatArray, scale: float = 1.0) -> common_pb2.ConsensusStep:
        return common_pb2.ConsensusStep(
            price_per_mwh=to_series(self.stations, self.price * scale),
            target_load_mw=to_series(self.stations, target_mw),
            penalty_per_mw2h=self.penalty * scale,
        )

    def _loads(self, reply: Any, operator_id: str) -> FloatArray:
        if reply.HasField("privacy"):
            spent = reply.privacy
            self.privacy[operator_id] = {
                "epsilon": float(spent.epsilon), "delta": float(spent.delta),
                "releases": int(spent.releases), "bound": str(spent.bound),
                "exhausted": bool(spent.exhausted)}
        return from_series(reply.load_mw, self.stations, self.periods, "load_mw")
