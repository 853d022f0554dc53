"""The TNO's binding: the ``TnoOperator`` service's RPCs onto :class:`TnoOperator` calls.

Why this module exists: the TNO's model speaks domain values (:mod:`ptn.services.tno.contract`);
this table decodes each request, calls the model and encodes its result, typed end to end. The
TNO is the consuming side of the coupling; ``RespondToPrices`` is not bound (UNIMPLEMENTED).
Amounts of money beyond ±:data:`~ptn.services.bindings.base.MAX_ABS_AMOUNT_USD` and reasons
longer than :data:`~ptn.services.bindings.base.MAX_TEXT_CHARS` are refused naming the field.
"""

from __future__ import annotations

from ptn.engines.coupling import CouplingSide
from ptn.protocol.codec import to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.bindings.base import (
    Answer,
    Binding,
    Rpc,
    bounded_amount,
    bounded_text,
    consensus_step,
    describe,
    report_cost,
)
from ptn.services.tno.contract import ShareOffer, TnoOperator


def consider_share(model: TnoOperator, request: games_pb2.ProfitShareOffer) -> Answer:
    """``ConsiderShare``: its benefit at its current plan and whether it accepts."""
    answer = model.consider_share(ShareOffer(
        share=request.share,
        reference_cost_usd=bounded_amount(request.reference_cost, "reference_cost"),
        payment_usd=bounded_amount(request.payment, "payment")))
    stations = model.describe().stations
    return Answer(games_pb2.ProfitShareAnswer(
        accepted=answer.accepted, load_mw=to_series(stations, answer.load_mw),
        benefit=answer.benefit_usd, cost=answer.cost_usd, cost_alone=answer.cost_alone_usd),
        answer)


def settle(model: TnoOperator, request: games_pb2.Settlement) -> Answer:
    """``Settle``: a payment it receives."""
    return Answer(games_pb2.SettlementAck(),
                  model.settle(bounded_amount(request.amount, "amount"),
                               bounded_text(request.reason, "reason")))


TNO_BINDING: Binding[TnoOperator] = Binding("tno", (
    Rpc("Describe", common_pb2.DescribeRequest, describe, changes_state=False),
    Rpc("ConsensusStep", common_pb2.ConsensusStep, consensus_step(CouplingSide.CONSUMER)),
    Rpc("ConsiderShare", games_pb2.ProfitShareOffer, consider_share),
    Rpc("Settle", games_pb2.Settlement, settle),
    Rpc("ReportCost", common_pb2.CostRequest, report_cost, changes_state=False),
))
