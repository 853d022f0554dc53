"""The traffic department's contract on every transport: ADMM step, price and probe responses.

Happy paths return (stations, periods) loads in its station order with a converged status; every
EV charges once (in its period or, departing earlier or later, a neighbouring one), so the
station loads add up to the EV demand times the energy per charge over the horizon (from the
department's own table). Hostile requests (negative prices, no probes, the penalty and
±1e300 targets that once crashed the traffic engine) come back as ``STATUS_INVALID_REQUEST``
naming the item, and the host goes on answering.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import Endpoint
from ptn.protocol.codec import from_series
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.traffic.config import traffic_config_from_part
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
PERIODS = periods_of("traffic")
STATIONS = ("cs6", "cs10", "cs11")


def ev_energy_mw() -> float:
    """The EVs' charging power summed over the periods (MW): every EV charges once."""
    config = traffic_config_from_part(operator_part("traffic"))
    return float(config.spec.ev_demand_veh_per_h.sum()) \
        * config.spec.charging.energy_per_charge_mwh


def price_signal(request_id: str, price: object) -> common_pb2.PriceSignal:
    return common_pb2.PriceSignal(header=header("traffic", request_id),
                                  price_per_mwh=series(STATIONS, np.broadcast_to(
                                      price, (3, PERIODS))))


def test_its_admm_step_charges_every_ev_once(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("traffic").call("ConsensusStep", consensus_step(
        "traffic", new_id(), STATIONS, PERIODS, [[60.0], [90.0], [-20.0]], 0.3, 40.0), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message
    load = loads_of(reply, STATIONS, PERIODS)
    assert load.shape == (3, PERIODS) and np.all(load >= -1e-9)
    assert load.sum() == pytest.approx(ev_energy_mw(), rel=1e-9)


def test_its_price_response_charges_every_ev_once(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("traffic").call("RespondToPrices", price_signal(new_id(), 85.0), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message
    assert loads_of(reply, STATIONS, PERIODS).sum() == pytest.approx(ev_energy_mw(), rel=1e-9)


def test_probe_responses_answer_each_probe_in_order(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    cheap_cs6 = np.array([[40.0], [120.0], [120.0]]) * np.ones((1, PERIODS))
    probes = games_pb2.PriceProbes(header=header("traffic", new_id()), price_per_mwh=[
        series(STATIONS, cheap_cs6), series(STATIONS, cheap_cs6[[1, 0, 2]])])
    reply = shared("traffic").call("ProbeResponses", probes, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK, reply.header.message
    first, second = (from_series(load, STATIONS, PERIODS, "load_mw") for load in reply.load_mw)
    assert first[0].sum() > second[0].sum()  # cs6 draws more load when it is the cheap one
    assert second[1].sum() > first[1].sum()


@pytest.mark.parametrize(("make", "expected"), [
    (lambda i: price_signal(i, [[85.0], [-1.0], [85.0]]),
     "price_per_mwh: negative price at station cs10 in period 0"),
    (lambda i: price_signal(i, [[85.0], [85.0], [math.nan]]),
     "price_per_mwh: value for station cs11 in period 0 is not finite"),
])
def test_hostile_prices_are_refused_naming_the_station(
        make: Callable[[str], common_pb2.PriceSignal], expected: str,
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("traffic").call("RespondToPrices", make(new_id()), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message


def test_no_probes_and_a_negative_probe_are_refused(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("traffic")
    empty = endpoint.call("ProbeResponses", games_pb2.PriceProbes(
        header=header("traffic", new_id())), TIMEOUT_S)
    assert empty.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "price_per_mwh: no probes given" in empty.header.message
    negative = np.full((3, PERIODS), 80.0)
    negative[2, 1] = -5.0
    probes = games_pb2.PriceProbes(header=header("traffic", new_id()), price_per_mwh=[
        series(STATIONS, np.full((3, PERIODS), 80.0)), series(STATIONS, negative)])
    reply = endpoint.call("ProbeResponses", probes, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "price_per_mwh[1]: negative price at station cs11 in period 1" in reply.header.message


@pytest.mark.parametrize("target", [1e300, -1e300])
def test_a_huge_penalty_and_target_are_refused_and_the_host_goes_on(
        target: float, shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("traffic")
    step = consensus_step("traffic", new_id(), STATIONS, PERIODS, 50.0, target, 1e300)
    reply = endpoint.call("ConsensusStep", step, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "target_load_mw: ADMM target at station cs6 in period 0 is" in reply.header.message
    step.target_load_mw.CopyFrom(series(STATIONS, np.full((3, PERIODS), 0.3)))
    step.header.request_id = new_id()
    reply = endpoint.call("ConsensusStep", step, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "penalty_per_mw2h: ADMM penalty must be >= 0 and at most" in reply.header.message
    alive = endpoint.call("Describe", describe_request("traffic", new_id()), TIMEOUT_S)
    assert alive.header.status == common_pb2.STATUS_OK
