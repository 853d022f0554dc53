"""A CNO's service in domain values: its turn in the price game, as an ask-and-tell exchange.

Why this module exists: the ``CnoOperator`` service (protos/negotiation/v1/services.proto) as a
typed Protocol that :class:`ptn.services.cno.model.CnoModel` implements and its host's binding
(:mod:`ptn.services.bindings.cno`) calls. A ``BestRespond`` request without probe loads starts a
turn (:meth:`CnoOperator.start_turn`); one with probe loads answers the probes the CNO asked
(:meth:`CnoOperator.answer_probes`). Arrays are (its own stations, periods). (The service's
``ReportCost`` has no meaning for a CNO yet: the binding leaves it out, so hosts answer
UNIMPLEMENTED.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ptn.services.contract import FloatArray, Operator, OperatorStatus


@dataclass(frozen=True)
class TurnStart:
    """A new turn: the DSO's prices at its stations (what it buys at, $/MWh), its own prices
    now in force (where its search starts, $/MWh), and the best-response method asked for
    (``"aem"`` or ``"exact"``; None: its configured one)."""

    purchase_price_per_mwh: FloatArray
    current_price_per_mwh: FloatArray
    method: str | None = None


@dataclass(frozen=True)
class GameMove:
    """Its move in a turn: probes it needs answered (prices of its stations, $/MWh), or, when
    none, its best response: prices, its revenue there and at its start ($, Σ Δt·(α − λ)·P on
    probed loads), and the load responses it asked for in the turn."""

    probe_price_per_mwh: tuple[FloatArray, ...] = ()
    price_per_mwh: FloatArray | None = None
    revenue_usd: float = 0.0
    start_revenue_usd: float = 0.0
    probes: int = 0
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""


class CnoOperator(Operator, Protocol):
    """A CNO: ``BestRespond`` (its turn's steps)."""

    def start_turn(self, turn: TurnStart) -> GameMove:
        """Start its best-response search (dropping any unfinished turn): its first probes."""
        ...

    def expect_probes(self, count: int) -> None:
        """Refuse ``count`` probe answers that its turn in progress did not ask for
        (:class:`~ptn.engines.errors.InvalidInputError`)."""
        ...

    def answer_probes(self, load_mw: Sequence[FloatArray]) -> GameMove:
        """Feed its search the station loads (MW) answering its last probes, in their order:
        its next probes, or its prices when the search is over."""
        ...
