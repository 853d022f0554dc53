"""The TNO's contract on every transport: its ADMM step, profit-sharing offers and payments.

Happy paths: its plan alone (no coupling) serves its timetable (station loads of the right
shape, a cost); an offer at that plan is worth exactly its payment to it (it saves nothing
against planning alone), so it accepts. Hostile requests (a share outside [0, 1], non-finite
payments or amounts, a huge penalty) come back as ``STATUS_INVALID_REQUEST`` naming the item.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import Endpoint
from ptn.protocol.v1 import common_pb2, games_pb2
from tests.support.operators import (
    consensus_step,
    describe_request,
    header,
    loads_of,
    periods_of,
)

TIMEOUT_S = 120.0
PERIODS = periods_of("tno")
STATIONS = ("depot6", "east4", "west9")


def offer(request_id: str, share: float = 0.2, payment: float = 5.0,
          reference_cost: float = 1000.0) -> games_pb2.ProfitShareOffer:
    return games_pb2.ProfitShareOffer(header=header("tno", request_id), share=share,
                                      reference_cost=reference_cost, payment=payment)


def test_its_plan_alone_and_an_offer_there_are_worth_the_payment(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("tno")
    plan = endpoint.call("ConsensusStep", consensus_step("tno", new_id(), STATIONS, PERIODS,
                                                         0.0, 0.0, 0.0), TIMEOUT_S)
    assert plan.header.status == common_pb2.STATUS_OK, plan.header.message
    load = loads_of(plan, STATIONS, PERIODS)
    assert load.shape == (3, PERIODS) and np.all(load >= 0) and load.sum() > 0
    answer = endpoint.call("ConsiderShare", offer(new_id()), TIMEOUT_S)
    assert answer.header.status == common_pb2.STATUS_OK, answer.header.message
    assert answer.accepted and answer.benefit == pytest.approx(5.0, abs=1e-6)
    assert answer.cost == pytest.approx(answer.cost_alone, rel=1e-9)
    np.testing.assert_allclose(loads_of(answer, STATIONS, PERIODS), load, rtol=0, atol=1e-12)
    ack = endpoint.call("Settle", games_pb2.Settlement(header=header("tno", new_id()),
                                                       amount=5.0, reason="share"), TIMEOUT_S)
    assert ack.header.status == common_pb2.STATUS_OK


@pytest.mark.parametrize(("make", "expected"), [
    (lambda i: offer(i, share=1.5), "share must lie in [0, 1], got 1.5"),
    (lambda i: offer(i, share=math.nan), "share must lie in [0, 1], got nan"),
    (lambda i: offer(i, payment=math.inf), "payment must be finite, got inf"),
    (lambda i: offer(i, reference_cost=math.nan), "reference_cost must be finite, got nan"),
])
def test_hostile_offers_are_refused_naming_the_field(
        make: Callable[[str], games_pb2.ProfitShareOffer], expected: str,
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    reply = shared("tno").call("ConsiderShare", make(new_id()), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert expected in reply.header.message


def test_hostile_payments_and_penalties_are_refused_and_the_host_goes_on(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint = shared("tno")
    ack = endpoint.call("Settle", games_pb2.Settlement(header=header("tno", new_id()),
                                                       amount=math.nan), TIMEOUT_S)
    assert ack.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "amount must be finite, got nan" in ack.header.message
    step = consensus_step("tno", new_id(), STATIONS, PERIODS, 50.0, 1e300, 1e300)
    reply = endpoint.call("ConsensusStep", step, TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "target_load_mw: ADMM target at station depot6 in period 0" in reply.header.message
    alive = endpoint.call("Describe", describe_request("tno", new_id()), TIMEOUT_S)
    assert alive.header.status == common_pb2.STATUS_OK
