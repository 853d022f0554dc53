"""The DSO's binding: the ``DsoOperator`` service's RPCs onto :class:`DsoOperator` calls.

Why this module exists: the DSO's model speaks domain values
(:mod:`ptn.services.dso.contract`); this table decodes each request, calls the model and encodes
its result, typed end to end. The DSO is the supplying side of the coupling. Observed station
loads beyond ±:data:`~ptn.engines.coupling.MAX_ABS_TARGET_LOAD_MW` are refused naming the
station and period before they enter its pricing history.
"""

from __future__ import annotations

from ptn.engines.coupling import MAX_ABS_TARGET_LOAD_MW, CouplingSide
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.services.bindings.base import (
    Answer,
    Binding,
    Rpc,
    consensus_step,
    describe,
    report_cost,
)
from ptn.services.dso.contract import DsoOperator


def dispatch(model: DsoOperator, request: common_pb2.LoadSignal) -> Answer:
    """``Dispatch``: its cost and the station DLMPs at fixed loads."""
    facts = model.describe()
    # the model refuses loads beyond MAX_ABS_TARGET_LOAD_MW itself, naming them as charging loads
    loads = from_series(request.load_mw, facts.stations, facts.periods, "load_mw")
    result = model.dispatch(loads, request.header.negotiation_id)
    if result.price_per_mwh is None:
        return Answer(common_pb2.DispatchReply(cost=result.cost_usd), result)
    return Answer(common_pb2.DispatchReply(
        cost=result.cost_usd, price_per_mwh=to_series(facts.stations, result.price_per_mwh),
        revenue=result.revenue_usd), result)


def quote_prices(model: DsoOperator, request: common_pb2.LoadSignal) -> Answer:
    """``QuotePrices``: its next quote; the signal's loads (when given) are those observed at
    its previous quote."""
    facts = model.describe()
    observed = from_series(request.load_mw, facts.stations, facts.periods, "load_mw",
                           MAX_ABS_TARGET_LOAD_MW, "MW") \
        if request.HasField("load_mw") else None
    quote = model.quote_prices(request.header.negotiation_id, observed)
    return Answer(common_pb2.PriceReply(price_per_mwh=to_series(facts.stations,
                                                                quote.price_per_mwh),
                                        trial=quote.trial), quote)


DSO_BINDING: Binding[DsoOperator] = Binding("dso", (
    Rpc("Describe", common_pb2.DescribeRequest, describe, changes_state=False),
    Rpc("ConsensusStep", common_pb2.ConsensusStep, consensus_step(CouplingSide.SUPPLIER)),
    Rpc("Dispatch", common_pb2.LoadSignal, dispatch),
    Rpc("QuotePrices", common_pb2.LoadSignal, quote_prices),
    Rpc("ReportCost", common_pb2.CostRequest, report_cost, changes_state=False),
))
