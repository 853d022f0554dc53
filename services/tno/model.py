"""The transport network operator's model: its bus fleet's charging plan, over domain values.

Why this module exists: the TNO holds its fleet (lines, buses, batteries, energy per trip) and
its cost, and tells the coordinator only aggregate station loads and, where a mechanism pays on
it, its own cost and benefit (MODELS.md §0, §4). This is its pure model (numpy, cvxpy and the
fleet engine :mod:`ptn.engines.fleet`; no protobuf, grpc or ray), built from its own ``[tno]``
table (:mod:`ptn.services.tno.config`); it implements
:class:`ptn.services.tno.contract.TnoOperator`:

* ``consensus_step``: the ADMM local step ``min C_TNO + Σ Δt·[λ·P + (ρ/2)·(P − z)²]`` (the
  consuming side's :class:`~ptn.engines.coupling.CouplingTerms`); with λ = 0 and ρ = 0 it is the
  plan alone (seed 000's prescheduling);
* ``consider_share``: a profit-sharing offer (share, the DNO's C0, the payment at the TNO's
  current plan): its cost at that plan, its cost alone, its benefit, and whether it accepts;
* ``settle``: a payment it receives (kept in its books);
* ``report_cost``: its own cost at its latest plan.

State (:meth:`TnoModel.snapshot`): the coupling terms of its latest plan, which
:meth:`TnoModel.restore` solves again, and the payments received. Restoring rebuilds its fleet
model (whose solver warm-starts from earlier solves), so a restored model answers exactly as a
fresh one given the same state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase
from ptn.engines.fleet.charging_plan import FleetPlan
from ptn.engines.fleet.model import build_fleet_model
from ptn.scenario.document import ScenarioPart
from ptn.services.contract import (
    CostReport,
    OperatorDescription,
    OperatorStatus,
    Outcome,
    StationLoads,
)
from ptn.services.snapshot import require_keys
from ptn.services.tno.config import tno_case_from_part
from ptn.services.tno.contract import ShareAnswer, ShareOffer

_STATUS = {"optimal": OperatorStatus.OK, "infeasible": OperatorStatus.INFEASIBLE}


class TnoModel:
    """The TNO's pure model (implements :class:`ptn.services.tno.contract.TnoOperator`)."""

    role = "tno"

    def __init__(self, operator_id: str, case: FleetCase) -> None:
        self.operator_id = operator_id
        self.case = case
        self.fleet = build_fleet_model(case)
        self._last: FleetPlan | None = None
        self._last_coupling: CouplingTerms | None = None
        self._alone: FleetPlan | None = None
        self.received_usd = 0.0

    @classmethod
    def from_part(cls, part: ScenarioPart, private_output_dir: Path | None = None) -> TnoModel:
        """Its model from its scenario part (it writes no private report)."""
        return cls(part.operator_id, tno_case_from_part(part))

    @property
    def stations(self) -> tuple[str, ...]:
        return tuple(self.fleet.station_names)

    @property
    def periods(self) -> int:
        return int(self.case.tariff_per_mwh.shape[0])

    # ------------------------------------------------------------------ the service
    def describe(self) -> OperatorDescription:
        return OperatorDescription(self.role, self.operator_id, self.stations, self.periods,
                                   self.case.period_hours)

    def consensus_step(self, coupling: CouplingTerms) -> StationLoads:
        """ADMM: its plan minimizing its cost plus ``Σ Δt·[λ·P + (ρ/2)(P − z)²]``."""
        plan = self.fleet.consensus_step(coupling)
        self._last, self._last_coupling = plan, coupling
        status = _STATUS.get(plan.status, OperatorStatus.FAILED)
        return StationLoads(plan.station_load_mw if plan.has_solution else None, status,
                            plan.message)

    def consider_share(self, offer: ShareOffer) -> ShareAnswer:
        """Its benefit from the offer at its current plan: what it saves against planning
        alone, plus the payment; it accepts when that is not negative."""
        if not 0.0 <= offer.share <= 1.0:
            raise InvalidInputError(f"share must lie in [0, 1], got {offer.share}")
        for name, value in (("reference_cost", offer.reference_cost_usd),
                            ("payment", offer.payment_usd)):
            if not np.isfinite(value):
                raise InvalidInputError(f"{name} must be finite, got {value}")
        if self._last is None or not self._last.has_solution:
            raise InvalidInputError("no plan to consider the offer at: negotiate first")
        alone = self.plan_alone()
        benefit = alone.cost_usd - self._last.cost_usd + offer.payment_usd
        return ShareAnswer(accepted=bool(benefit >= -1e-6), load_mw=self._last.station_load_mw,
                           benefit_usd=benefit, cost_usd=self._last.cost_usd,
                           cost_alone_usd=alone.cost_usd)

    def settle(self, amount_usd: float, reason: str) -> Outcome:
        """A payment received (its books only)."""
        if not np.isfinite(amount_usd):
            raise InvalidInputError(f"amount must be finite, got {amount_usd}")
        self.received_usd += amount_usd
        return Outcome()

    def report_cost(self) -> CostReport:
        """Its own cost at its latest plan ($), without payments or coordination terms."""
        if self._last is None or not self._last.has_solution:
            return CostReport.refused("no plan computed yet")
        return CostReport(self._last.cost_usd)

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        coupling = None if self._last_coupling is None else self._last_coupling.to_json()
        return {"last_plan": coupling, "received_usd": self.received_usd}

    def restore(self, state: dict[str, Any]) -> None:
        require_keys(state, ("last_plan", "received_usd"), "TNO state")
        received = state["received_usd"]
        if isinstance(received, bool) or not isinstance(received, int | float) \
                or not np.isfinite(received):
            raise InvalidInputError(f"received_usd: expected a finite number, got {received!r}")
        self._last, self._last_coupling = None, None
        # its solver warm-starts from earlier solves: built afresh, it answers as a fresh
        # model's would (a negotiation after other traffic gets a fresh server's numbers)
        self.fleet, self._alone = build_fleet_model(self.case), None
        if state["last_plan"] is not None:
            self.consensus_step(CouplingTerms.from_json(state["last_plan"]))
        self.received_usd = float(received)

    # ------------------------------------------------------------------ helpers
    def plan_alone(self) -> FleetPlan:
        """Its plan without any coordination (computed once; the fleet is re-solved)."""
        if self._alone is None:
            self._alone = self.fleet.plan()
        return self._alone
