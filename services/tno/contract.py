"""The TNO's service in domain values: its ADMM step, profit-sharing offers, payments, cost.

Why this module exists: the ``TnoOperator`` service (protos/negotiation/v1/services.proto) as a
typed Protocol that :class:`ptn.services.tno.model.TnoModel` implements and its host's binding
(:mod:`ptn.services.bindings.tno`) calls. Arrays are (stations, periods) in the TNO's station
order; it is the consuming side of the coupling. (The service's ``RespondToPrices`` has no
fleet model behind it yet: the binding leaves it out, so hosts answer UNIMPLEMENTED.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ptn.services.contract import CoupledOperator, FloatArray, OperatorStatus, Outcome


@dataclass(frozen=True)
class ShareOffer:
    """A profit-sharing offer (MODELS.md §4): the DNO pays ``share`` (in [0, 1]) of the saving
    the TNO's rescheduling brings it, measured from ``reference_cost_usd`` (its C0);
    ``payment_usd`` is what it pays at the TNO's current plan."""

    share: float
    reference_cost_usd: float
    payment_usd: float


@dataclass(frozen=True)
class ShareAnswer:
    """The TNO's answer at its current plan: whether it accepts, the plan's station loads (MW),
    its benefit against planning alone plus the payment ($), its cost there and alone ($)."""

    accepted: bool
    load_mw: FloatArray
    benefit_usd: float
    cost_usd: float
    cost_alone_usd: float
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""


class TnoOperator(CoupledOperator, Protocol):
    """The TNO: ``ConsensusStep`` (consuming side), ``ConsiderShare``, ``Settle``,
    ``ReportCost``."""

    def consider_share(self, offer: ShareOffer) -> ShareAnswer:
        """Its benefit from an offer at its current plan, and whether it accepts."""
        ...

    def settle(self, amount_usd: float, reason: str) -> Outcome:
        """A payment received ($; its books only)."""
        ...
