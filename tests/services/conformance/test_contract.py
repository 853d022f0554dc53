"""Every role's contract on every transport: what any operator must do whatever its role.

The same checks run against the in-process host, a Ray actor and a gRPC server, each reached
through the coordinator's endpoint: ``Describe`` states the operator's own stations and the
horizon of its scenario part; a request for another operator or without a request id is refused
(and the host goes on answering); a repeated request id is answered with the first reply and not
applied again (a later cost report still refers to the request in between); a cost asked before
anything was solved is refused with the reason; a method a role does not offer is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from ptn.coordinator.runtime.transports import CallFailedError, Endpoint
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2, games_pb2
from tests.support.operators import (
    Hosts,
    consensus_step,
    cost_request,
    describe_request,
    header,
    operator_part,
    periods_of,
)

TIMEOUT_S = 120.0
ROLES = ("dso", "traffic", "tno", "cno")
#: the roles that report a cost (ReportCost is not bound for a CNO)
COSTING = ("dso", "traffic", "tno")
#: each role's public station names, as its scenario writes them
STATIONS = {
    "dso": ("cs7", "cs9", "cs10", "cs12"),
    "traffic": ("cs6", "cs10", "cs11"),
    "tno": ("depot6", "east4", "west9"),
    "cno": ("cs7", "cs9"),  # cno1's own stations: the ones it prices
}


def _ok(reply: object) -> None:
    status = reply.header.status
    assert status in (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT), \
        reply.header.message


@pytest.mark.parametrize("role", ROLES)
def test_describe_states_its_stations_and_horizon(
        role: str, shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    part = operator_part(role)
    reply = shared(role).call("Describe", describe_request(part.operator_id, new_id()),
                              TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_OK
    info = reply.info
    assert (info.role, info.operator_id) == (role, part.operator_id)
    assert tuple(info.stations) == STATIONS[role]
    assert info.periods == part.public.periods == periods_of(role)
    assert info.period_hours == pytest.approx(24.0 / info.periods)  # each scenario is a day
    assert info.schema == "negotiation.v1"
    assert reply.header.request_id and reply.header.operator_id == part.operator_id


@pytest.mark.parametrize("role", ROLES)
def test_requests_for_another_operator_or_without_an_id_are_refused(
        role: str, shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint, part = shared(role), operator_part(role)
    wrong = endpoint.call("Describe", describe_request("someone-else", new_id()), TIMEOUT_S)
    assert wrong.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert f"addressed to 'someone-else', this is '{part.operator_id}'" \
        in wrong.header.message
    anonymous = endpoint.call("Describe", describe_request(part.operator_id, ""), TIMEOUT_S)
    assert anonymous.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "request_id" in anonymous.header.message
    alive = endpoint.call("Describe", describe_request(part.operator_id, new_id()), TIMEOUT_S)
    assert alive.header.status == common_pb2.STATUS_OK


@pytest.mark.parametrize("role", COSTING)
def test_a_cost_before_any_solve_is_refused_with_the_reason(
        role: str, hosts: Hosts, new_id: Callable[[], str]) -> None:
    part = operator_part(role)
    fresh = hosts.host(part)
    reply = fresh.call("ReportCost", cost_request(part.operator_id, new_id()), TIMEOUT_S)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "computed yet" in reply.header.message
    assert math.isnan(reply.cost)


def test_a_cno_does_not_offer_a_cost(shared: Callable[[str], Endpoint],
                                     new_id: Callable[[], str]) -> None:
    with pytest.raises(CallFailedError) as error:
        shared("cno").call("ReportCost", cost_request("cno1", new_id()), TIMEOUT_S)
    assert error.value.reason == "refused"


@pytest.mark.parametrize("role", COSTING)
def test_a_repeated_request_id_is_answered_from_the_first_reply_and_not_applied_again(
        role: str, shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint, part = shared(role), operator_part(role)
    stations, operator_id = STATIONS[role], part.operator_id
    first_id = new_id()
    periods = periods_of(role)
    # prices rising across the stations, then the opposite (a dual price may be negative): the
    # steps' plans and costs differ
    rising = np.linspace(40.0, 160.0, len(stations))[:, None]
    first = endpoint.call("ConsensusStep", consensus_step(operator_id, first_id, stations,
                                                          periods, rising, 0.2, 20.0), TIMEOUT_S)
    _ok(first)
    cost_first = endpoint.call("ReportCost", cost_request(operator_id, new_id()), TIMEOUT_S)
    second = endpoint.call("ConsensusStep", consensus_step(operator_id, new_id(), stations,
                                                           periods, -rising, 0.2, 20.0),
                           TIMEOUT_S)
    _ok(second)
    cost_second = endpoint.call("ReportCost", cost_request(operator_id, new_id()), TIMEOUT_S)
    assert cost_first.cost != pytest.approx(cost_second.cost, rel=1e-6)
    again = endpoint.call("ConsensusStep", consensus_step(operator_id, first_id, stations,
                                                          periods, rising, 0.2, 20.0), TIMEOUT_S)
    assert again == first
    cost_again = endpoint.call("ReportCost", cost_request(operator_id, new_id()), TIMEOUT_S)
    assert cost_again.cost == cost_second.cost


def test_a_repeated_cno_turn_is_answered_from_the_first_reply_and_not_started_again(
        shared: Callable[[str], Endpoint], new_id: Callable[[], str]) -> None:
    endpoint, stations = shared("cno"), STATIONS["cno"]
    periods = periods_of("cno")

    def turn(request_id: str, loads: Sequence[np.ndarray] = ()) -> games_pb2.PriceGameTurn:
        message = games_pb2.PriceGameTurn(
            header=header("cno1", request_id),
            purchase_price_per_mwh=to_series(stations, np.full((2, periods), 110.0)),
            current_price_per_mwh=to_series(stations, np.full((2, periods), 200.0)))
        message.probe_load_mw.extend(to_series(stations, load) for load in loads)
        return message

    start_id = new_id()
    first = endpoint.call("BestRespond", turn(start_id), TIMEOUT_S)
    move = first
    while move.probe_price_per_mwh:
        probes = [from_series(p, stations, periods, "probe")
                  for p in move.probe_price_per_mwh]
        move = endpoint.call("BestRespond", turn(new_id(), [np.maximum(0.0, 6.0 - 0.02 * p)
                                                            for p in probes]), TIMEOUT_S)
    _ok(move)
    assert endpoint.call("BestRespond", turn(start_id), TIMEOUT_S) == first
    # the repeated start did not open a turn again: an answer to its probes is out of turn
    late = endpoint.call("BestRespond", turn(new_id(), [np.ones((2, periods))] * 3), TIMEOUT_S)
    assert late.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "no turn of this CNO is in progress" in late.header.message
