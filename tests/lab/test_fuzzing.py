"""The fuzz battery (:mod:`ptn.lab.fuzzing`), short: a few hundred hostile requests per role.

The generator is checked without a server (seeded, every kind of damage, the nasty numbers),
the classifier against hand-made answers (independent of any operator), and then each role's
operator is served by ``ptn serve`` in its own process and fuzzed over gRPC: no crash, no hang,
only documented statuses and codes, and a legitimate negotiation afterwards gives a fresh
operator's numbers (rtol 1e-9). ``python -m bench.fuzz`` runs the full battery (10,000 per RPC).
"""

from __future__ import annotations

import math
from itertools import islice

import grpc
import pytest

from ptn.lab.fuzzing.battery import ROLE_TARGETS, TARGETS, ReplayLedger, classify, run_target
from ptn.lab.fuzzing.messages import NASTY_FLOATS, MessageFuzzer
from ptn.protocol.schema import service_methods
from ptn.protocol.v1 import common_pb2, services_pb2  # noqa: F401 - registers the services

PER_RPC = 50


def _fuzzer(seed: int) -> MessageFuzzer:
    spec = service_methods("traffic")["ConsensusStep"]
    sample = spec.input_type()
    sample.header.operator_id = "traffic"  # type: ignore[attr-defined]
    sample.header.round = 3  # type: ignore[attr-defined]
    sample.penalty_per_mw2h = 50.0  # type: ignore[attr-defined]
    for field in ("price_per_mwh", "target_load_mw"):
        series = getattr(sample, field)
        series.stations.extend(["s1", "s2"])
        series.periods = 2
        series.values.extend([1.0, 2.0, 3.0, 4.0])
    return MessageFuzzer(spec, [sample], [b"\x0a\x00"], operator_id="traffic",
                         negotiation_id="n", seed=seed)


def test_the_generator_is_seeded_and_tries_every_kind_of_damage() -> None:
    first = [f.data for f in islice(_fuzzer(7), 300)]
    assert first == [f.data for f in islice(_fuzzer(7), 300)]
    assert first != [f.data for f in islice(_fuzzer(8), 300)]
    kinds = {f.kind for f in islice(_fuzzer(7), 2000)}
    assert kinds >= {"random bytes", "truncated", "bit flips", "junk appended",
                     "another method's message", "legitimate", "number", "numbers", "series",
                     "header", "probes", "scalars"}
    spec = service_methods("traffic")["ConsensusStep"]
    penalties = set()
    for fuzzed in islice(_fuzzer(7), 3000):
        if fuzzed.kind in ("number", "scalars", "numbers"):
            penalties.add(spec.input_type.FromString(fuzzed.data).penalty_per_mw2h)  # type: ignore[attr-defined]
    assert any(math.isnan(p) for p in penalties)
    assert {1e300, math.inf, -math.inf, 5e-324} <= penalties
    assert len([v for v in NASTY_FLOATS if v == 0.0]) == 2  # 0 and -0


def _reply(status: int, request_id: str = "r1", value: float = 1.0) -> bytes:
    spec = service_methods("traffic")["ConsensusStep"]
    reply = spec.output_type()
    reply.header.status = status  # type: ignore[attr-defined]
    reply.header.request_id = request_id  # type: ignore[attr-defined]
    reply.load_mw.values.append(value)  # type: ignore[attr-defined]
    data: bytes = reply.SerializeToString()
    return data


class _Error(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "detail"


def _raise(code: grpc.StatusCode) -> bytes:
    raise _Error(code)


def test_the_classifier_accepts_only_documented_answers() -> None:
    spec = service_methods("traffic")["ConsensusStep"]
    request = spec.input_type()
    request.header.request_id = "r1"  # type: ignore[attr-defined]
    data = request.SerializeToString()

    def outcome(call: object) -> str:
        return classify(spec, data, call, 30.0)[0]  # type: ignore[arg-type]

    assert outcome(lambda: _reply(common_pb2.STATUS_OK)) == "STATUS_OK"
    assert outcome(lambda: _reply(common_pb2.STATUS_INVALID_REQUEST)) \
        == "STATUS_INVALID_REQUEST"
    assert outcome(lambda: _reply(common_pb2.STATUS_UNSPECIFIED)).startswith("UNDOCUMENTED")
    assert outcome(lambda: _reply(17)).startswith("UNDOCUMENTED")
    assert outcome(lambda: _reply(common_pb2.STATUS_OK, "r2")).startswith("UNDOCUMENTED")
    assert outcome(lambda: _reply(common_pb2.STATUS_OK, value=math.nan)) \
        == "UNDOCUMENTED:STATUS_OK with non-finite numbers"
    assert outcome(lambda: _reply(common_pb2.STATUS_FAILED, value=math.nan)) == "STATUS_FAILED"
    assert outcome(lambda: b"\xff\xff\xff") == "UNDOCUMENTED:undecodable reply"
    assert outcome(lambda: _raise(grpc.StatusCode.INVALID_ARGUMENT)) == "grpc:INVALID_ARGUMENT"
    assert outcome(lambda: _raise(grpc.StatusCode.UNKNOWN)) == "UNDOCUMENTED:grpc:UNKNOWN"
    assert outcome(lambda: _raise(grpc.StatusCode.INTERNAL)) == "UNDOCUMENTED:grpc:INTERNAL"


def test_a_reused_id_is_a_finding_only_when_answered_with_other_content() -> None:
    methods = service_methods("traffic")
    ledger = ReplayLedger()

    def signal(request_id: str, price: float) -> bytes:
        message = common_pb2.PriceSignal()
        message.header.request_id = request_id
        message.price_per_mwh.values.append(price)
        data: bytes = message.SerializeToString()
        return data

    spec, cost = methods["RespondToPrices"], methods["ReportCost"]
    # refused first (another negotiation, say): the id was never taken
    assert ledger.check("RespondToPrices", signal("r1", 50.0), spec,
                        "grpc:FAILED_PRECONDITION") == "grpc:FAILED_PRECONDITION"
    assert ledger.check("RespondToPrices", signal("r1", 100.0), spec, "STATUS_OK") == "STATUS_OK"
    assert ledger.check("RespondToPrices", signal("r1", 100.0), spec, "STATUS_OK") == "STATUS_OK"
    assert ledger.check("RespondToPrices", signal("r1", 300.0), spec, "STATUS_OK") \
        == "UNDOCUMENTED:STATUS_OK to a reused request id with other content"
    assert ledger.check("RespondToPrices", signal("r1", 300.0), spec,
                        "grpc:ALREADY_EXISTS") == "grpc:ALREADY_EXISTS"
    # an id answered longer ago than the cache remembers is forgotten
    forgetful = ReplayLedger(remembered=2)
    assert forgetful.check("RespondToPrices", signal("a", 1.0), spec, "STATUS_OK") == "STATUS_OK"
    for k in range(3):
        forgetful.check("RespondToPrices", signal(f"b{k}", 1.0), spec, "STATUS_OK")
    assert forgetful.check("RespondToPrices", signal("a", 2.0), spec, "STATUS_OK") == "STATUS_OK"
    # the same id on another method is another request (the cache is keyed by method and id)
    request = common_pb2.CostRequest()
    request.header.request_id = "r1"
    assert ledger.check("ReportCost", request.SerializeToString(), cost, "STATUS_OK") \
        == "STATUS_OK"


@pytest.mark.parametrize("name", ROLE_TARGETS)
def test_hostile_requests_neither_crash_hang_nor_change_an_operator(name: str) -> None:
    report = run_target(TARGETS[name], PER_RPC, seed=15, deadline_s=20.0)
    assert sum(sum(c.values()) for c in report.counts.values()) == \
        PER_RPC * len(report.counts)
    findings = [f"{f.method} ({f.kind}): {f.outcome}: {f.detail}" for f in report.findings]
    assert not findings, "\n".join(findings[:20])
    for name, compared, differing, largest in report.legitimate:
        assert compared > 0
        assert differing == 0, f"{name}: {differing} of {compared} numbers differ (max rel " \
                               f"{largest:.3g}) from a fresh operator's"
