"""The DSO's contract on every transport: its ADMM step, dispatch and quotes, and hostile input.

Happy paths return (stations, periods) series in the DSO's station order with a solved status
(its step's loads within its charging points' limits; a dispatch's cost and DLMPs; a first quote
that is a trial within its price bounds). Malformed or hostile requests (unknown or missing
station, wrong period count, NaN, a penalty or target of 1e300, negative loads) come back as
``STATUS_INVALID_REQUEST`` naming the item, and the host goes on answering.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import Endpoint
from ptn.protocol.v1 import common_pb2
from ptn.services.dso.config import dso_config_from_part
from tests.support.operators import (
    consensus_step,
    describe_request,
    header,
    loads_of,
    operator_part,
    periods_of,
    series,
)

TIMEOUT_S = 120.0
PERIODS = periods_of("dso")
STATIONS = ("cs7", "cs9", "cs10", "cs12")
SOLVED = (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT)


def load_signal(request_id: str, loads: object, negotiation: str = "n1"
                ) -> common_pb2.LoadSignal:
    return common_pb2.LoadSignal(header=header("dso", request_id, negotiation),
                                 load_mw=series(STATIONS, loads))


def test_its_admm_step_returns_loads_within_its_limits(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("dso").call("ConsensusStep", consensus_step(
        "dso", new_id(), STATIONS, PERIODS, 120.0, 0.5, 10.0), TIMEOUT_S)
    assert reply.header.status in SOLVED, reply.header.message
    load = loads_of(reply, STATIONS, PERIODS)
    assert load.shape == (4, PERIODS)
    limits = {p.name: p.max_mw for p in dso_config_from_part(operator_part("dso"))
              .case.charging_points}
    assert np.all(load >= -1e-7)
    assert np.all(load <= np.array([limits[s] for s in STATIONS])[:, None] + 1e-6)


def test_a_dispatch_returns_its_cost_and_station_prices(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("dso").call("Dispatch", load_signal(new_id(), np.full((4, PERIODS), 0.3),
                                                       negotiation=f"n1/{new_id()}"),
                                  TIMEOUT_S)
    assert reply.header.status in SOLVED, reply.header.message
    assert np.isfinite(reply.cost) and reply.cost > 0
    prices = loads_of(reply, STATIONS, PERIODS, "price_per_mwh")
    assert prices.shape == (4, PERIODS) and np.all(np.isfinite(prices))
    assert math.isnan(reply.revenue)  # no quote in this negotiation


def test_a_first_quote_is_a_trial_within_its_bounds(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    # a part of its own in the shared host's negotiation n1 (a history of its own)
    signal = common_pb2.LoadSignal(header=header("dso", new_id(), f"n1/{new_id()}"))
    reply = shared("dso").call("QuotePrices", signal, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK and reply.trial
    price = loads_of(reply, STATIONS, PERIODS, "price_per_mwh")
    assert price.min() >= 80 - 1e-9 and price.max() <= 180 + 1e-9


def _renamed(step: common_pb2.ConsensusStep, index: int, name: str) -> common_pb2.ConsensusStep:
    step.price_per_mwh.stations[index] = name
    return step


def _shortened(step: common_pb2.ConsensusStep) -> common_pb2.ConsensusStep:
    del step.target_load_mw.stations[-1]
    del step.target_load_mw.values[-PERIODS:]
    return step


def _one_period(step: common_pb2.ConsensusStep) -> common_pb2.ConsensusStep:
    step.price_per_mwh.CopyFrom(series(STATIONS, np.zeros((4, 1))))
    return step


def _value(step: common_pb2.ConsensusStep, field: str, value: float) -> common_pb2.ConsensusStep:
    getattr(step, field).values[PERIODS + 1] = value  # cs9 in period 1
    return step


HOSTILE_STEPS = {
    "unknown station": (lambda s: _renamed(s, 1, "cs99"), "price_per_mwh: unknown station cs99"),
    "missing station": (_shortened, "target_load_mw"),
    "wrong period count": (_one_period, f"price_per_mwh: 1 periods, expected {PERIODS}"),
    "NaN price": (lambda s: _value(s, "price_per_mwh", math.nan),
                  "price_per_mwh: value for station cs9 in period 1 is not finite"),
    "huge target": (lambda s: _value(s, "target_load_mw", 1e300),
                    "target_load_mw: ADMM target at station cs9 in period 1 is 1e+300 MW"),
    "huge price": (lambda s: _value(s, "price_per_mwh", -1e300),
                   "price_per_mwh: ADMM price at station cs9 in period 1"),
}


@pytest.mark.parametrize("case", list(HOSTILE_STEPS))
def test_hostile_admm_steps_are_refused_naming_the_item(
        case: str, shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    change, expected = HOSTILE_STEPS[case]
    step = change(consensus_step("dso", new_id(), STATIONS, PERIODS, 50.0, 0.5, 10.0))
    reply = shared("dso").call("ConsensusStep", step, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message
    assert not reply.HasField("load_mw")


@pytest.mark.parametrize(("penalty", "expected"), [
    (1e300, "penalty_per_mw2h: ADMM penalty must be >= 0 and at most 1e+09 $/MW²h, got 1e+300"),
    (-1.0, "penalty_per_mw2h: ADMM penalty must be >= 0"),
    (math.nan, "penalty_per_mw2h: ADMM penalty must be >= 0"),
])
def test_hostile_penalties_are_refused_and_the_host_goes_on(
        penalty: float, expected: str, shared: Callable[[str], Endpoint],
        new_id: Callable[[], str]) -> None:
    endpoint = shared("dso")
    reply = endpoint.call("ConsensusStep", consensus_step("dso", new_id(), STATIONS, PERIODS,
                                                          50.0, 0.5, penalty), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message
    alive = endpoint.call("Describe", describe_request("dso", new_id()), TIMEOUT_S)
    assert alive.header.status == common_pb2.STATUS_OK


@pytest.mark.parametrize(("value", "expected"), [
    (-0.5, "charging load at cs9 in period 1 is negative"),
    (math.nan, "load_mw: value for station cs9 in period 1 is not finite"),
    (1e300, "charging load 1e+300 MW at cs9 in period 1 is beyond the bound of 100000 MW"),
])
def test_hostile_dispatch_loads_are_refused_naming_the_station(
        value: float, expected: str, shared: Callable[[str], Endpoint],
        new_id: Callable[[], str]) -> None:
    loads = np.full((4, PERIODS), 0.3)
    loads[1, 1] = value
    reply = shared("dso").call("Dispatch", load_signal(new_id(), loads), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message
