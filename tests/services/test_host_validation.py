"""Hostile numbers are refused at the host, naming the field, and change nothing.

Every role's operator under test (tests/support/operators.py) gets hostile requests (1e300,
NaN, infinities, negative penalties, too many probes, unknown methods, huge amounts and texts)
in the middle of a legitimate negotiation: each comes back ``STATUS_INVALID_REQUEST`` naming
the field, and the negotiation's replies are exactly those of a fresh host that never saw them.
So are the replies of a negotiation after another negotiation's traffic has ended, or gone idle:
opening a negotiation restores the fresh state (warm starts, histories and turns included).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np
import pytest
from google.protobuf.message import Message

from ptn.protocol.codec import from_series
from ptn.protocol.schema import service_methods
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services.bindings.traffic import max_probes
from ptn.services.host import OperatorHost
from ptn.services.hosting import build_host
from tests.support.operators import (
    assert_same_replies,
    consensus_step,
    header,
    operator_part,
    periods_of,
    series,
)


@cache
def stations_of(role: str) -> tuple[str, ...]:
    return tuple(build_host(operator_part(role)).model.describe().stations)


class Session:
    """Requests of one negotiation to a host, with fresh ids and rising rounds."""

    def __init__(self, host: OperatorHost, negotiation: str) -> None:
        self.host = host
        self.negotiation = negotiation
        self.count = 0
        self.round = 1

    def call(self, method: str, request: Message) -> Any:
        self.count += 1
        request.header.CopyFrom(header(self.host.operator_id,  # type: ignore[attr-defined]
                                       f"{self.negotiation}:{self.count}", self.negotiation,
                                       self.round))
        reply_type = service_methods(self.host.role)[method].output_type
        return reply_type.FromString(self.host.handle(method, request.SerializeToString()))


def full(role: str, value: float) -> common_pb2.StationSeries:
    names = stations_of(role)
    return series(names, np.full((len(names), periods_of(role)), value))


def with_value(role: str, base: float, value: float) -> common_pb2.StationSeries:
    """A series of ``base`` with ``value`` at its second station in period 1."""
    names = stations_of(role)
    values = np.full((len(names), periods_of(role)), base)
    values[1, 1] = value
    return series(names, values)


def step(role: str, price: float, target: float, penalty: float) -> common_pb2.ConsensusStep:
    names = stations_of(role)
    return consensus_step("", "", names, periods_of(role), price, target, penalty)


# ---------------------------------------------------------------------- legitimate runs
def traffic_run(session: Session) -> Iterator[Message]:
    yield session.call("RespondToPrices", common_pb2.PriceSignal(price_per_mwh=full(
        "traffic", 85.0)))
    session.round = 2
    yield session.call("ConsensusStep", step("traffic", 90.0, 0.5, 20.0))
    yield session.call("ProbeResponses", games_pb2.PriceProbes(
        price_per_mwh=[full("traffic", 100.0), full("traffic", 140.0)]))
    yield session.call("ReportCost", common_pb2.CostRequest())


def dso_run(session: Session) -> Iterator[Message]:
    yield session.call("QuotePrices", common_pb2.LoadSignal())
    session.round = 2
    yield session.call("QuotePrices", common_pb2.LoadSignal(load_mw=full("dso", 0.4)))
    session.round = 3
    yield session.call("ConsensusStep", step("dso", 120.0, 0.5, 10.0))
    yield session.call("Dispatch", common_pb2.LoadSignal(load_mw=full("dso", 0.3)))
    yield session.call("ReportCost", common_pb2.CostRequest())


def tno_run(session: Session) -> Iterator[Message]:
    yield session.call("ConsensusStep", step("tno", 60.0, 0.2, 5.0))
    yield session.call("ConsiderShare", games_pb2.ProfitShareOffer(
        share=0.3, reference_cost=1000.0, payment=12.5))
    session.round = 2
    yield session.call("Settle", games_pb2.Settlement(amount=12.5, reason="share"))
    yield session.call("ReportCost", common_pb2.CostRequest())


def cno_turn(purchase: float = 110.0) -> games_pb2.PriceGameTurn:
    return games_pb2.PriceGameTurn(purchase_price_per_mwh=full("cno", purchase),
                                   current_price_per_mwh=full("cno", 200.0))


def cno_run(session: Session) -> Iterator[Message]:
    move = session.call("BestRespond", cno_turn())
    yield move
    for _ in range(50):
        if not move.probe_price_per_mwh:
            return
        names = stations_of("cno")
        turn = cno_turn()
        turn.probe_load_mw.extend(
            series(names, np.maximum(0.0, 6.0 - 0.02 * from_series(p, names, periods_of("cno"),
                                                                    "probe")))
            for p in move.probe_price_per_mwh)
        move = session.call("BestRespond", turn)
        yield move
    raise AssertionError("the CNO's turn did not end")


RUNS: dict[str, Callable[[Session], Iterator[Message]]] = {
    "traffic": traffic_run, "dso": dso_run, "tno": tno_run, "cno": cno_run}


# ---------------------------------------------------------------------- hostile requests
def hostile(role: str) -> list[tuple[str, Message, str]]:
    """(method, request, what the refusal must say) for a role."""
    cap = max_probes(3, periods_of("traffic"))
    cases: dict[str, list[tuple[str, Message, str]]] = {
        "traffic": [
            ("RespondToPrices", common_pb2.PriceSignal(price_per_mwh=with_value(
                "traffic", 85.0, 1e300)), "price_per_mwh: value for station cs10 in period 1 "
                                          "is 1e+300 $/MWh, beyond ±1e+06 $/MWh"),
            ("RespondToPrices", common_pb2.PriceSignal(price_per_mwh=with_value(
                "traffic", 85.0, math.inf)), "price_per_mwh: value for station cs10 in period "
                                             "1 is not finite"),
            ("ProbeResponses", games_pb2.PriceProbes(price_per_mwh=[full("traffic", 90.0)]
                                                     * (cap + 1)),
             f"price_per_mwh: {cap + 1} probes, at most {cap} per request"),
            ("ProbeResponses", games_pb2.PriceProbes(price_per_mwh=[
                full("traffic", 90.0), with_value("traffic", 90.0, 1e300)]),
             "price_per_mwh[1]: value for station cs10 in period 1 is 1e+300"),
            ("ConsensusStep", step("traffic", 90.0, 0.5, 1e300),
             "penalty_per_mw2h: ADMM penalty must be >= 0 and at most 1e+09 $/MW²h"),
            ("ConsensusStep", step("traffic", 90.0, 0.5, -1.0),
             "penalty_per_mw2h: ADMM penalty must be >= 0"),
            ("ConsensusStep", step("traffic", 90.0, 1e300, 20.0),
             "target_load_mw: ADMM target at station cs6 in period 0 is 1e+300 MW"),
            ("ConsensusStep", step("traffic", -1e300, -1e300, 20.0),
             "price_per_mwh: ADMM price at station cs6 in period 0 is -1e+300"),
        ],
        "dso": [
            ("QuotePrices", common_pb2.LoadSignal(load_mw=with_value("dso", 0.4, 1e300)),
             "load_mw: value for station cs9 in period 1 is 1e+300 MW, beyond ±100000 MW"),
            ("QuotePrices", common_pb2.LoadSignal(load_mw=with_value("dso", 0.4, math.nan)),
             "load_mw: value for station cs9 in period 1 is not finite"),
            ("QuotePrices", common_pb2.LoadSignal(load_mw=with_value("dso", 0.4, -5.0)),
             "load_mw: load -5 MW at station cs9 in period 1 is negative"),
            ("Dispatch", common_pb2.LoadSignal(load_mw=with_value("dso", 0.3, -1e300)),
             "charging load at cs9 in period 1 is negative"),
            ("ConsensusStep", step("dso", 120.0, 0.5, math.nan),
             "penalty_per_mw2h: ADMM penalty must be >= 0"),
        ],
        "tno": [
            ("Settle", games_pb2.Settlement(amount=1e300),
             "amount must lie within ±1e+12 $, got 1e+300"),
            ("Settle", games_pb2.Settlement(amount=math.nan), "amount must be finite, got nan"),
            ("Settle", games_pb2.Settlement(amount=1.0, reason="x" * 2000),
             "reason: 2000 characters, at most 1000"),
            ("ConsiderShare", games_pb2.ProfitShareOffer(share=0.3, reference_cost=1000.0,
                                                         payment=-1e300),
             "payment must lie within ±1e+12 $"),
            ("ConsensusStep", step("tno", 60.0, -1e300, 5.0),
             "target_load_mw: ADMM target at station"),
        ],
        "cno": [
            ("BestRespond", games_pb2.PriceGameTurn(
                purchase_price_per_mwh=with_value("cno", 110.0, 1e300),
                current_price_per_mwh=full("cno", 200.0)),
             "purchase_price_per_mwh: value for station cs9 in period 1 is 1e+300 $/MWh"),
            ("BestRespond", games_pb2.PriceGameTurn(
                purchase_price_per_mwh=full("cno", 110.0),
                current_price_per_mwh=with_value("cno", 200.0, -math.inf)),
             "current_price_per_mwh: value for station cs9 in period 1 is not finite"),
            ("BestRespond", games_pb2.PriceGameTurn(
                purchase_price_per_mwh=full("cno", 110.0),
                current_price_per_mwh=full("cno", 200.0), method=7),  # type: ignore[arg-type]
             "method: unknown best-response method 7"),
        ],
    }
    return cases[role]


def answers(role: str, host: OperatorHost, negotiation: str,
            interfere: Callable[[Session], None] | None = None) -> list[Message]:
    """The replies of the role's legitimate run, ``interfere`` called before each step."""
    session = Session(host, negotiation)
    replies = []
    run = RUNS[role](session)
    while True:
        if interfere is not None:
            interfere(session)
        try:
            replies.append(next(run))
        except StopIteration:
            return replies


@pytest.fixture(scope="module", params=list(RUNS))
def fresh_answers(request: pytest.FixtureRequest) -> tuple[str, list[Message]]:
    role: str = request.param
    return role, answers(role, build_host(operator_part(role)), "legit")


def test_hostile_numbers_are_refused_and_change_nothing(
        fresh_answers: tuple[str, list[Message]]) -> None:
    role, expected = fresh_answers
    refused: list[str] = []

    def attack(session: Session) -> None:
        attacker = Session(session.host, session.negotiation)  # ids of its own, same round
        attacker.count, attacker.round = 1000 * session.count + 1000, session.round
        for method, request, message in hostile(role):
            reply = attacker.call(method, request)
            assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST, (method, message)
            assert message in reply.header.message, reply.header.message
            refused.append(method)

    attacked = answers(role, build_host(operator_part(role)), "legit", attack)
    assert refused
    assert_same_replies(expected, attacked, rel=0.0, abs_=0.0)


def test_hostile_probe_loads_are_refused_mid_turn() -> None:
    host = build_host(operator_part("cno"))
    session = Session(host, "legit")
    move = session.call("BestRespond", cno_turn())
    count = len(move.probe_price_per_mwh)
    turn = cno_turn()
    turn.probe_load_mw.extend([with_value("cno", 1.0, 1e300)] * count)
    reply = session.call("BestRespond", turn)
    assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
    assert "probe_load_mw[0]: value for station cs9 in period 1 is 1e+300 MW, beyond ±100000 MW" \
        in reply.header.message


def test_a_cno_turn_goes_on_after_refused_probe_loads() -> None:
    """Negative loads (no station feeds the grid) are refused mid-turn naming the station; the
    turn then goes on exactly as on a host that never saw them."""
    moves = []
    for attacked in (False, True):
        session = Session(build_host(operator_part("cno")), "legit")
        count = len(session.call("BestRespond", cno_turn()).probe_price_per_mwh)
        if attacked:
            turn = cno_turn()
            turn.probe_load_mw.extend([with_value("cno", 1.0, -3.0)] * count)
            reply = session.call("BestRespond", turn)
            assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
            assert "probe_load_mw[0]: load -3 MW at station cs9 in period 1 is negative" \
                in reply.header.message
        turn = cno_turn()
        turn.probe_load_mw.extend([full("cno", 1.0)] * count)
        move = session.call("BestRespond", turn)
        assert move.header.status == common_pb2.STATUS_OK
        move.ClearField("header")  # its request id differs: one call more
        moves.append(move)
    assert moves[0] == moves[1]


def foreign_traffic(role: str, host: OperatorHost, negotiation: str) -> None:
    """Another negotiation's whole run, at other numbers, and its hostile requests."""
    session = Session(host, negotiation)
    for method, request, _ in hostile(role):
        session.call(method, request)
    if role == "traffic":
        session.call("RespondToPrices", common_pb2.PriceSignal(price_per_mwh=full("traffic",
                                                                                   170.0)))
        session.call("ProbeResponses", games_pb2.PriceProbes(price_per_mwh=[
            full("traffic", 30.0)]))
    elif role == "dso":
        session.call("QuotePrices", common_pb2.LoadSignal())
        session.call("QuotePrices", common_pb2.LoadSignal(load_mw=full("dso", 1.1)))
        session.call("Dispatch", common_pb2.LoadSignal(load_mw=full("dso", 0.9)))
    elif role == "tno":
        session.call("ConsensusStep", step("tno", 10.0, 0.7, 50.0))
        session.call("Settle", games_pb2.Settlement(amount=999.0))
    else:
        session.call("BestRespond", cno_turn(purchase=160.0))  # a turn left unfinished


def test_a_negotiation_after_another_ended_gets_a_fresh_servers_numbers(
        fresh_answers: tuple[str, list[Message]]) -> None:
    role, expected = fresh_answers
    host = build_host(operator_part(role))
    foreign_traffic(role, host, "other")
    ended = Session(host, "other").call("EndNegotiation",
                                        common_pb2.EndNegotiationRequest())
    assert ended.header.status == common_pb2.STATUS_OK
    assert_same_replies(expected, answers(role, host, "legit"), rel=0.0, abs_=0.0)


def test_a_negotiation_after_another_went_idle_gets_a_fresh_servers_numbers(
        fresh_answers: tuple[str, list[Message]]) -> None:
    role, expected = fresh_answers
    host = build_host(operator_part(role), session_idle_s=0.2)
    foreign_traffic(role, host, "other")
    time.sleep(0.3)
    assert_same_replies(expected, answers(role, host, "legit"), rel=0.0, abs_=0.0)


def test_over_grpc_hostile_requests_are_refused_in_band() -> None:
    expected = answers("traffic", build_host(operator_part("traffic")), "legit")
    from ptn.coordinator.runtime.transports import GrpcEndpoint
    from ptn.services.adapters.grpc_server import start_server

    host = build_host(operator_part("traffic"))
    server, port = start_server(host, "127.0.0.1:0")
    endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
    try:
        for k, (method, request, message) in enumerate(hostile("traffic")):
            request.header.CopyFrom(header("traffic", f"attack:{k}", "legit"))  # type: ignore[attr-defined]
            reply: Any = endpoint.call(method, request, 60.0)
            assert reply.header.status == common_pb2.STATUS_INVALID_REQUEST
            assert message in reply.header.message
    finally:
        endpoint.close()
        server.stop(0)
    assert_same_replies(expected, answers("traffic", host, "legit"), rel=0.0, abs_=0.0)
