"""The traffic department's binding: the ``TrafficDepartment`` service's RPCs onto
:class:`TrafficOperator` calls.

Why this module exists: the traffic department's model speaks domain values
(:mod:`ptn.services.traffic.contract`); this table decodes each request, calls the model and
encodes its result, typed end to end. Traffic is the consuming side of the coupling. Prices
beyond ±:data:`~ptn.engines.coupling.MAX_ABS_PRICE_PER_MWH` are refused naming the station and
period, and a ``ProbeResponses`` request with more probes than :func:`max_probes` (each probe
is an equilibrium: a thousand held the model for 92 s) is refused before any is decoded.

The probe cap. The coordinator's largest probe batch is the exact best response's compass
search (:mod:`ptn.engines.games.cno_response.exact`), two probes per free price, i.e. per
station and period of the CNO searching: at most ``2 × stations × periods`` when the searching
CNO is the alliance of every CNO (the cooperative variant's ε-Nash certificate). The AEM search
asks ``1 + stations × periods`` at most, the revenue matrix ``2^(number of CNOs)`` (16 for the
shipped Sioux Falls game). The cap is :data:`PROBE_CAP_MARGIN` times the largest of those that
the department can bound from its own stations (``2 × stations × periods + 1``), and never
below :data:`MIN_PROBE_CAP` (e.g. pricing-seed001: 4 stations × 6 periods → 98; the Sioux Falls
game: 10 × 4 → 162, against its largest legitimate batch of 80).
"""

from __future__ import annotations

from ptn.engines.coupling import MAX_ABS_PRICE_PER_MWH, CouplingSide
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.bindings.base import (
    Answer,
    Binding,
    Rpc,
    consensus_step,
    describe,
    load_reply,
    privacy_spent,
    report_cost,
)
from ptn.services.traffic.contract import TrafficOperator

#: how far above the coordinator's largest legitimate probe batch the cap lies
PROBE_CAP_MARGIN = 2
#: the cap's floor (the revenue matrix of up to six CNOs fits below it)
MIN_PROBE_CAP = 64


def max_probes(stations: int, periods: int) -> int:
    """The most probes one ``ProbeResponses`` request may carry (see the module doc)."""
    return max(MIN_PROBE_CAP, PROBE_CAP_MARGIN * (2 * stations * periods + 1))


def respond_to_prices(model: TrafficOperator, request: common_pb2.PriceSignal) -> Answer:
    """``RespondToPrices``: the equilibrium station loads at the given prices."""
    facts = model.describe()
    price = from_series(request.price_per_mwh, facts.stations, facts.periods, "price_per_mwh",
                        MAX_ABS_PRICE_PER_MWH, "$/MWh")
    return load_reply(facts.stations, model.respond_to_prices(price))


def probe_responses(model: TrafficOperator, request: games_pb2.PriceProbes) -> Answer:
    """``ProbeResponses``: the station loads at each probe's prices."""
    facts = model.describe()
    cap = max_probes(len(facts.stations), facts.periods)
    if len(request.price_per_mwh) > cap:
        raise InvalidInputError(f"price_per_mwh: {len(request.price_per_mwh)} probes, at most "
                                f"{cap} per request")
    prices = [from_series(series, facts.stations, facts.periods, f"price_per_mwh[{k}]",
                          MAX_ABS_PRICE_PER_MWH, "$/MWh")
              for k, series in enumerate(request.price_per_mwh)]
    result = model.probe_responses(prices)
    reply = games_pb2.LoadResponses(
        load_mw=[to_series(facts.stations, load) for load in result.load_mw])
    if result.privacy is not None:
        reply.privacy.CopyFrom(privacy_spent(result.privacy))
    return Answer(reply, result)


TRAFFIC_BINDING: Binding[TrafficOperator] = Binding("traffic", (
    Rpc("Describe", common_pb2.DescribeRequest, describe, changes_state=False),
    Rpc("ConsensusStep", common_pb2.ConsensusStep, consensus_step(CouplingSide.CONSUMER)),
    Rpc("RespondToPrices", common_pb2.PriceSignal, respond_to_prices),
    Rpc("ProbeResponses", games_pb2.PriceProbes, probe_responses, changes_state=False),
    Rpc("ReportCost", common_pb2.CostRequest, report_cost, changes_state=False),
))
