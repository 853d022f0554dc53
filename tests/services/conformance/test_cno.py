"""A CNO's contract on every transport: its turn as an exchange of probes and loads.

A turn starts with probes of its own stations' prices within its bounds, ends with its prices
within its bounds once its probes are answered; answers out of turn or in the wrong number, and
malformed prices (NaN, another CNO's station), come back as ``STATUS_INVALID_REQUEST`` naming
the item, and the host goes on answering.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import Endpoint
from ptn.protocol.codec import from_series
from ptn.protocol.v1 import common_pb2, games_pb2
from tests.support.operators import describe_request, header, periods_of, series

TIMEOUT_S = 120.0
PERIODS = periods_of("cno")
STATIONS = ("cs7", "cs9")
LOW, HIGH = 150.0, 250.0  # cno1's price bounds ($/MWh)


def turn(request_id: str, loads: Sequence[np.ndarray] = (), purchase: float = 110.0
         ) -> games_pb2.PriceGameTurn:
    message = games_pb2.PriceGameTurn(
        header=header("cno1", request_id),
        purchase_price_per_mwh=series(STATIONS, np.full((2, PERIODS), purchase)),
        current_price_per_mwh=series(STATIONS, np.full((2, PERIODS), 200.0)))
    message.probe_load_mw.extend(series(STATIONS, load) for load in loads)
    return message


def prices(message: Sequence[common_pb2.StationSeries]) -> list[np.ndarray]:
    return [from_series(p, STATIONS, PERIODS, "price") for p in message]


def test_a_turn_asks_probes_within_its_bounds_then_answers_its_prices(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("cno")
    move = endpoint.call("BestRespond", turn(new_id()), TIMEOUT_S)
    assert move.header.status == common_pb2.STATUS_OK, move.header.message
    assert len(move.probe_price_per_mwh) == 3  # AEM per period: the point and one per station
    while move.probe_price_per_mwh:
        probes = prices(move.probe_price_per_mwh)
        assert all(p.shape == (2, PERIODS) and p.min() >= LOW and p.max() <= HIGH
                   for p in probes)
        move = endpoint.call("BestRespond", turn(new_id(), [np.maximum(0.0, 6.0 - 0.02 * p)
                                                            for p in probes]), TIMEOUT_S)
        assert move.header.status == common_pb2.STATUS_OK, move.header.message
    (price,) = prices([move.price_per_mwh])
    assert price.min() >= LOW and price.max() <= HIGH
    assert move.probes >= 3 and np.isfinite(move.revenue) and np.isfinite(move.start_revenue)


def test_answers_out_of_turn_or_miscounted_are_refused(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("cno")
    endpoint.call("BestRespond", turn(new_id()), TIMEOUT_S)  # asks 3 probes
    short = endpoint.call("BestRespond", turn(new_id(), [np.ones((2, PERIODS))] * 2), TIMEOUT_S)
    assert short.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "probe_load_mw: 2 responses, but 3 probes were asked" in short.header.message
    bad = endpoint.call("BestRespond", turn(new_id(), [np.full((2, PERIODS), math.nan)] * 3),
                        TIMEOUT_S)
    assert bad.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "probe_load_mw[0]: value for station cs7 in period 0 is not finite" \
        in bad.header.message


@pytest.mark.parametrize(("change", "expected"), [
    (lambda t: t.purchase_price_per_mwh.values.__setitem__(1, math.nan),
     "purchase_price_per_mwh: value for station cs7 in period 1 is not finite"),
    (lambda t: t.current_price_per_mwh.stations.__setitem__(0, "cs10"),
     "current_price_per_mwh: unknown station cs10"),
    (lambda t: t.purchase_price_per_mwh.CopyFrom(series(STATIONS, np.zeros((2, PERIODS + 1)))),
     f"purchase_price_per_mwh: {PERIODS + 1} periods, expected {PERIODS}"),
])
def test_malformed_turns_are_refused_naming_the_item(
        change: Callable[[games_pb2.PriceGameTurn], None], expected: str,
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("cno")
    message = turn(new_id())
    change(message)
    reply = endpoint.call("BestRespond", message, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message
    alive = endpoint.call("Describe", describe_request("cno1", new_id()), TIMEOUT_S)
    assert alive.header.status == common_pb2.STATUS_OK
