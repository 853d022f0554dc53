"""The DSO's quotes in the pricing game, through its host.

Its first quotes are seeded random trials within its bounds and cap, a new negotiation id
starts its history afresh, and loads observed before any quote are refused.
"""

from __future__ import annotations

import numpy as np

from ptn.coordinator.runtime.transports import InProcessEndpoint
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario
from ptn.services.dso.model import DsoModel
from ptn.services.host import OperatorHost
from tests.support.operators import header

SCENARIO = load_scenario("pricing-seed001")
PERIODS = SCENARIO.public.periods


def _quote(endpoint: InProcessEndpoint, request_id: str, negotiation: str,
           loads: np.ndarray | None = None) -> common_pb2.PriceReply:
    signal = common_pb2.LoadSignal(header=header("dso", request_id, negotiation))
    if loads is not None:
        signal.load_mw.CopyFrom(to_series(SCENARIO.public.stations, loads))
    reply: common_pb2.PriceReply = endpoint.call("QuotePrices", signal, 30.0)
    return reply


def test_dso_quotes_seeded_trials_first_and_restarts_per_negotiation() -> None:
    endpoint = InProcessEndpoint(OperatorHost(DsoModel.from_part(SCENARIO.part("dso"))))
    stations = SCENARIO.public.stations
    first = []
    for k in range(6):
        loads = None if k == 0 else np.full((4, PERIODS), 1.5 - 0.05 * k)
        reply = _quote(endpoint, f"q{k}", "n1", loads)
        assert reply.header.status in (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT)
        price = from_series(reply.price_per_mwh, stations, PERIODS, "price")
        assert price.min() >= 80 - 1e-6 and price.max() <= 180 + 1e-6
        assert price.mean(axis=1).max() <= 120 + 1e-6
        assert reply.trial == (k < 5)
        first.append(price)
    ended = endpoint.call("EndNegotiation", common_pb2.EndNegotiationRequest(
        header=header("dso", "end-n1", "n1")), 30.0)
    assert ended.header.status == common_pb2.STATUS_OK
    again = _quote(endpoint, "r0", "n2")  # a new negotiation: its first trial quote again
    assert again.trial
    assert np.array_equal(from_series(again.price_per_mwh, stations, PERIODS, "price"), first[0])
    # another part of the negotiation has a history of its own
    loads_before_quote = _quote(endpoint, "r1", "n2/other", np.ones((4, PERIODS)))
    assert loads_before_quote.header.status == common_pb2.STATUS_INVALID_REQUEST
