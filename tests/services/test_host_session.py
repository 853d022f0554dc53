"""One negotiation at a time, rounds that never go back, a reply cache that checks content.

Checked with the profit-sharing scenario's TNO (two periods), whose payments received are state
that no reply shows (``received_usd``): a refused request must leave them as they were, a
replayed one must not count them twice, and a negotiation's end must forget them. Refusals are
:class:`RequestRefusedError` raised by the host (each transport turns them into its status).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message

from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.services import replies
from ptn.services.adapters import grpc_server
from ptn.services.host import MAX_ID_CHARS, OperatorHost
from ptn.services.hosting import build_host
from ptn.services.refusal import RequestRefusedError
from ptn.services.replies import ReplyCache, request_digest
from ptn.services.state import STATE_FILE
from tests.support.operators import describe_request, header, operator_part


def tno(directory: Path | None = None, idle_s: float | None = None) -> OperatorHost:
    return build_host(operator_part("tno"), directory, session_idle_s=idle_s)


def received(host: OperatorHost) -> float:
    value: float = host.model.received_usd  # type: ignore[attr-defined]
    return value


def settlement(request_id: str, negotiation: str, amount: float,
               round_number: int = 1) -> bytes:
    return games_pb2.Settlement(header=header("tno", request_id, negotiation, round_number),
                                amount=amount, reason="test").SerializeToString()


def settle(host: OperatorHost, request_id: str, negotiation: str, amount: float,
           round_number: int = 1) -> bytes:
    reply = host.handle("Settle", settlement(request_id, negotiation, amount, round_number))
    ack = games_pb2.SettlementAck.FromString(reply)
    assert ack.header.status == common_pb2.STATUS_OK, ack.header.message
    return reply


def end(host: OperatorHost, request_id: str, negotiation: str) -> common_pb2.EndNegotiationReply:
    return common_pb2.EndNegotiationReply.FromString(host.handle(
        "EndNegotiation", common_pb2.EndNegotiationRequest(
            header=header("tno", request_id, negotiation)).SerializeToString()))


def test_every_host_offers_end_negotiation() -> None:
    for role in ("dso", "traffic", "tno", "cno"):
        host = build_host(operator_part(role))
        assert host.offers("EndNegotiation") and "EndNegotiation" in host.methods


def test_another_negotiation_is_refused_until_the_first_ends() -> None:
    host = tno()
    settle(host, "s1", "run1/nash", 5.0)
    for method, request in (
            ("Settle", settlement("s2", "run2", 1.0)),
            ("Describe", describe_request("tno", "d1", "run2").SerializeToString()),
            ("EndNegotiation", common_pb2.EndNegotiationRequest(
                header=header("tno", "e1", "run2")).SerializeToString())):
        with pytest.raises(RequestRefusedError) as refused:
            host.handle(method, request)
        assert refused.value.code == "FAILED_PRECONDITION"
        assert "serves negotiation 'run1'" in refused.value.message
        assert "'run2'" in refused.value.message
    assert received(host) == 5.0  # the refusals changed nothing
    settle(host, "s3", "run1/cooperative", 2.0)  # another part of the same run is served
    assert received(host) == 7.0
    assert end(host, "e2", "run1").header.status == common_pb2.STATUS_OK
    settle(host, "s2", "run2", 1.0)
    assert received(host) == 1.0  # run2 opened on the fresh state


def test_an_idle_negotiation_is_released() -> None:
    host = tno(idle_s=0.2)
    settle(host, "s1", "run1", 5.0)
    with pytest.raises(RequestRefusedError, match=r"idle 0\.2 s"):
        host.handle("Settle", settlement("s2", "run2", 1.0))
    time.sleep(0.3)
    settle(host, "s2", "run2", 1.0)
    assert received(host) == 1.0  # run2 opened on the fresh state
    assert host.session.bound == "run2"


def test_rounds_that_go_backwards_are_refused_per_negotiation_id() -> None:
    host = tno()
    settle(host, "s1", "run1/a", 5.0, round_number=3)
    with pytest.raises(RequestRefusedError) as refused:
        host.handle("Settle", settlement("s2", "run1/a", 1.0, round_number=2))
    assert refused.value.code == "FAILED_PRECONDITION"
    assert "round 2 of negotiation 'run1/a' goes backwards: round 3 was served" \
        in refused.value.message
    assert received(host) == 5.0
    settle(host, "s3", "run1/a", 1.0, round_number=3)  # the same round again
    settle(host, "s4", "run1/b", 1.0, round_number=1)  # another part counts its own rounds
    describe = describe_request("tno", "d1", "run1/a")  # round 1: changes nothing, served
    reply = common_pb2.DescribeReply.FromString(host.handle("Describe",
                                                            describe.SerializeToString()))
    assert reply.header.status == common_pb2.STATUS_OK
    assert received(host) == 7.0


def test_a_replayed_id_must_carry_the_same_content() -> None:
    host = tno()
    first = settle(host, "s1", "run1", 5.0)
    with pytest.raises(RequestRefusedError) as refused:
        host.handle("Settle", settlement("s1", "run1", 6.0))
    assert refused.value.code == "ALREADY_EXISTS" and "'s1'" in refused.value.message
    assert host.handle("Settle", settlement("s1", "run1", 5.0)) == first  # a retry
    assert received(host) == 5.0


def test_an_id_reused_on_another_method_gets_that_methods_reply() -> None:
    host = tno()
    settle(host, "same", "run1", 5.0)
    reply = common_pb2.DescribeReply.FromString(host.handle(
        "Describe", describe_request("tno", "same", "run1").SerializeToString()))
    assert reply.header.status == common_pb2.STATUS_OK
    assert reply.info.operator_id == "tno" and reply.info.periods == 2


def test_huge_ids_are_refused_and_not_kept() -> None:
    host = tno()
    settle(host, "s1", "run1", 5.0)
    entries, size = host.cached_replies
    huge = "x" * (20 * 1024 * 1024)
    for request_id, negotiation in ((huge, "run1"), ("s2", "run1/" + huge),
                                    ("y" * (MAX_ID_CHARS + 1), "run1")):
        with pytest.raises(RequestRefusedError) as refused:
            host.handle("Settle", settlement(request_id, negotiation, 1.0))
        assert refused.value.code == "INVALID_ARGUMENT"
        assert f"at most {MAX_ID_CHARS}" in refused.value.message
    assert host.cached_replies == (entries, size)
    assert received(host) == 5.0
    settle(host, "y" * MAX_ID_CHARS, "run1", 1.0)  # the limit itself is accepted


def test_the_reply_cache_is_bounded_in_bytes_and_entries() -> None:
    cache = ReplyCache(max_entries=100, max_bytes=10_000)
    for k in range(50):
        claim = cache.claim("Settle", f"r{k}", request_digest(b"%d" % k))
        assert claim.first
        cache.complete("Settle", f"r{k}", claim.entry, b"x" * 1000)
    assert cache.size_bytes <= 10_000
    kept = (1000 + len("Settle") + 3 + replies.ENTRY_OVERHEAD_BYTES)
    assert len(cache) == 10_000 // kept
    assert cache.lookup("Settle", "r0", request_digest(b"0")) is None  # the oldest went first
    newest = cache.lookup("Settle", "r49", request_digest(b"49"))
    assert newest is not None and newest.wait() == b"x" * 1000
    small = ReplyCache(max_entries=3)
    for k in range(5):
        claim = small.claim("Describe", f"d{k}", b"")
        small.complete("Describe", f"d{k}", claim.entry, b"")
    assert len(small) == 3


def test_a_saved_reply_answers_the_retry_after_a_restart(tmp_path: Path) -> None:
    first = tno(tmp_path)
    settle(first, "s0", "run1", 2.0, round_number=1)
    applied = settle(first, "s1", "run1", 5.0, round_number=2)
    # the operator dies before the reply arrives; a new one answers the coordinator's retry
    # from the saved reply, without applying the payment again
    restarted = tno(tmp_path)
    assert restarted.handle("Settle", settlement("s1", "run1", 5.0, 2)) == applied
    with pytest.raises(RequestRefusedError) as refused:  # other content under that id
        restarted.handle("Settle", settlement("s1", "run1", 50.0, 2))
    assert refused.value.code == "ALREADY_EXISTS"
    with pytest.raises(RequestRefusedError, match="goes backwards"):  # rounds are kept too
        restarted.handle("Settle", settlement("s9", "run1", 1.0, 1))
    settle(restarted, "s2", "run1", 1.0, round_number=2)
    assert received(restarted) == 8.0  # 2 + 5 restored, + 1; never 13
    saved = json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8"))
    assert [r["request_id"] for r in saved["replies"]] == ["s0", "s1", "s2"]
    assert saved["rounds"] == {"run1": 2}


def test_saved_replies_of_another_negotiation_answer_nothing(tmp_path: Path) -> None:
    settle(tno(tmp_path), "s1", "run1", 5.0)
    other = tno(tmp_path)
    settle(other, "s1", "run2", 1.0)  # the same id in another run is another request
    assert received(other) == 1.0


def test_end_negotiation_forgets_the_saved_state(tmp_path: Path) -> None:
    host = tno(tmp_path)
    settle(host, "s1", "run1", 5.0)
    assert end(host, "e1", "run1").header.status == common_pb2.STATUS_OK
    saved = json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8"))
    assert (saved["negotiation_id"], saved["replies"], saved["rounds"]) == ("", [], {})
    assert saved["model"]["received_usd"] == 0.0
    restarted = tno(tmp_path)
    settle(restarted, "s2", "run1", 1.0)  # run1 was ended: nothing to restore
    assert received(restarted) == 1.0
    # ending again (a retry, or after a restart) is harmless; an ended run is not resumed
    assert end(restarted, "e1", "run1").header.status == common_pb2.STATUS_OK
    settle(restarted, "s3", "run1", 2.0)
    assert received(restarted) == 2.0


def _grpc_call(channel: grpc.Channel, method: str, request: Message,
               reply_type: type[Message]) -> Message:
    call = channel.unary_unary(f"/negotiation.v1.TnoOperator/{method}")
    return reply_type.FromString(call(request.SerializeToString(), timeout=30))


def test_over_grpc_another_negotiation_is_refused_until_ended() -> None:
    host = tno()
    server, port = grpc_server.start_server(host, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        _grpc_call(channel, "Settle", games_pb2.Settlement(
            header=header("tno", "s1", "run1"), amount=5.0), games_pb2.SettlementAck)
        with pytest.raises(grpc.RpcError) as error:
            _grpc_call(channel, "Settle", games_pb2.Settlement(
                header=header("tno", "s2", "run2"), amount=1.0), games_pb2.SettlementAck)
        code = error.value.code()  # type: ignore[attr-defined]
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert received(host) == 5.0
        ended = _grpc_call(channel, "EndNegotiation", common_pb2.EndNegotiationRequest(
            header=header("tno", "e1", "run1")), common_pb2.EndNegotiationReply)
        assert ended.header.status == common_pb2.STATUS_OK  # type: ignore[attr-defined]
        _grpc_call(channel, "Settle", games_pb2.Settlement(
            header=header("tno", "s2", "run2"), amount=1.0), games_pb2.SettlementAck)
        assert received(host) == 1.0
    finally:
        channel.close()
        server.stop(0)


def test_over_grpc_replays_and_huge_ids_are_refused() -> None:
    host = tno()
    server, port = grpc_server.start_server(host, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                    [("grpc.max_send_message_length", 64 * 1024 * 1024)])
    try:
        first = _grpc_call(channel, "Settle", games_pb2.Settlement(
            header=header("tno", "s1", "run1"), amount=5.0), games_pb2.SettlementAck)
        again = _grpc_call(channel, "Settle", games_pb2.Settlement(
            header=header("tno", "s1", "run1"), amount=5.0), games_pb2.SettlementAck)
        assert again == first
        entries = host.cached_replies
        for request_id, amount, code in (("s1", 6.0, "ALREADY_EXISTS"),
                                         ("z" * 1_000_000, 1.0, "INVALID_ARGUMENT")):
            with pytest.raises(grpc.RpcError) as error:
                _grpc_call(channel, "Settle", games_pb2.Settlement(
                    header=header("tno", request_id, "run1"), amount=amount),
                    games_pb2.SettlementAck)
            assert error.value.code() == getattr(  # type: ignore[attr-defined]
                grpc.StatusCode, code)
        assert host.cached_replies == entries
        assert received(host) == 5.0
    finally:
        channel.close()
        server.stop(0)
