"""The traffic department's binding: the ``TrafficDepartment`` service's RPCs onto
:class:`TrafficOperator` calls.

Why this module exists: the traffic department's model speaks domain values
(:mod:`ptn.services.traffic.contract`); this table decodes each request, calls the model and
encodes its result, typed end to end. Traffic is the consuming side of the coupling.
"""

from __future__ import annotations

from ptn.engines.coupling import CouplingSide
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.bindings.base import (
    Answer,
    Binding,
    Rpc,
    consensus_step,
    describe,
    load_reply,
    report_cost,
)
from ptn.services.traffic.contract import TrafficOperator


def respond_to_prices(model: TrafficOperator, request: common_pb2.PriceSignal) -> Answer:
    """``RespondToPrices``: the equilibrium station loads at the given prices."""
    facts = model.describe()
    price = from_series(request.price_per_mwh, facts.stations, facts.periods, "price_per_mwh")
    return load_reply(facts.stations, model.respond_to_prices(price))


def probe_responses(model: TrafficOperator, request: games_pb2.PriceProbes) -> Answer:
    """``ProbeResponses``: the station loads at each probe's prices."""
    facts = model.describe()
    prices = [from_series(series, facts.stations, facts.periods, f"price_per_mwh[{k}]")
              for k, series in enumerate(request.price_per_mwh)]
    result = model.probe_responses(prices)
    return Answer(games_pb2.LoadResponses(
        load_mw=[to_series(facts.stations, load) for load in result.load_mw]), result)


TRAFFIC_BINDING: Binding[TrafficOperator] = Binding("traffic", (
    Rpc("Describe", common_pb2.DescribeRequest, describe, changes_state=False),
    Rpc("ConsensusStep", common_pb2.ConsensusStep, consensus_step(CouplingSide.CONSUMER)),
    Rpc("RespondToPrices", common_pb2.PriceSignal, respond_to_prices),
    Rpc("ProbeResponses", games_pb2.PriceProbes, probe_responses, changes_state=False),
    Rpc("ReportCost", common_pb2.CostRequest, report_cost, changes_state=False),
))
