"""Who may call an operator over real gRPC: identities, tokens, health, ports, load shedding.

Every test starts real gRPC servers (in this process through ``start_server``, or ``python -m ptn
serve`` subprocesses) with certificates made by ``ptn certs``' module, and calls them through the
coordinator's :class:`GrpcEndpoint` or a raw channel, as the coordinator or as an attacker would.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ptn.coordinator.runtime.launcher import free_port
from ptn.coordinator.runtime.transports import CallFailedError, GrpcEndpoint, read_token
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2, games_pb2
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.adapters.certificates import issue, load_authority, make_certificates, write_party
from ptn.services.adapters.grpc_server import start_server
from ptn.services.adapters.identity import operator_identity
from ptn.services.adapters.limits import MAX_MESSAGE_BYTES
from ptn.services.host import OperatorHost
from ptn.services.hosting import build_host
from tests.support.operators import cost_request, header, series

#: the pricing game's traffic department: the operator a CNO would like to probe at will
SCENARIO = "pricing-seed001"
STATIONS = ("cs7", "cs9", "cs10", "cs12")
PERIODS = 6
TRAFFIC_SERVICE = "negotiation.v1.TrafficDepartment"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deployment's certificates, plus a CNO's client certificate (valid, same CA) and a
    folder with the CA alone (a caller without a certificate)."""
    directory = tmp_path_factory.mktemp("certs")
    make_certificates(directory, ["dso", "traffic", "cno1"])
    authority = load_authority(directory)
    write_party(directory / "cno1-client", authority, "client",
                issue(authority, operator_identity("cno1"), server=False))
    (directory / "anonymous").mkdir()
    shutil.copy(directory / "ca.crt", directory / "anonymous" / "ca.crt")
    return directory


@cache
def traffic_part() -> ScenarioPart:
    part = load_scenario(SCENARIO).part("traffic")
    assert part.public.periods == PERIODS
    return part


def traffic_host() -> OperatorHost:
    return build_host(traffic_part())


def price_signal(request_id: str, price_per_mwh: float, round_number: int) -> Any:
    return common_pb2.PriceSignal(
        header=header("traffic", request_id, round_number=round_number),
        price_per_mwh=series(STATIONS, np.full((len(STATIONS), PERIODS), price_per_mwh)))


def probes(request_id: str, prices_per_mwh: list[float], round_number: int) -> Any:
    return games_pb2.PriceProbes(
        header=header("traffic", request_id, round_number=round_number),
        price_per_mwh=[series(STATIONS, np.full((len(STATIONS), PERIODS), price))
                       for price in prices_per_mwh])


def describe(request_id: str) -> Any:
    return common_pb2.DescribeRequest(header=header("traffic", request_id))


def health_check(address: str, timeout_s: float = 1.0) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=TRAFFIC_SERVICE),
                           timeout=timeout_s)
        return int(reply.status)


@pytest.fixture
def tls_traffic(certificates: Path) -> Iterator[tuple[str, str]]:
    """The traffic department over mutual TLS (its own certificate), with a plaintext health
    port: (address, health address)."""
    health_address = f"127.0.0.1:{free_port()}"
    server, port = start_server(traffic_host(), "127.0.0.1:0",
                                tls_dir=certificates / "traffic",
                                health_address=health_address)
    yield f"127.0.0.1:{port}", health_address
    server.stop(0)


def test_a_cno_certificate_is_denied_and_changes_no_state(
        tls_traffic: tuple[str, str], certificates: Path) -> None:
    address, _ = tls_traffic
    coordinator = GrpcEndpoint("traffic", "traffic", address, certificates / "coordinator")
    attacker = GrpcEndpoint("traffic", "traffic", address, certificates / "cno1-client")
    try:
        loads = coordinator.call("RespondToPrices", price_signal("c1", 40.0, 1), timeout_s=60)
        cost = coordinator.call("ReportCost", cost_request("traffic", "c2"), timeout_s=60)
        for method, request in (("ProbeResponses", probes("a1", [400.0, 900.0], 2)),
                                ("RespondToPrices", price_signal("a2", 400.0, 2)),
                                ("ReportCost", cost_request("traffic", "a3"))):
            with pytest.raises(CallFailedError) as refused:
                attacker.call(method, request, timeout_s=60)
            assert refused.value.reason == "unauthorized"
            assert "PERMISSION_DENIED" in refused.value.detail
            assert "ptn://operator/cno1" in refused.value.detail
        after = coordinator.call("ReportCost", cost_request("traffic", "c3"), timeout_s=60)
        assert after.cost == cost.cost  # type: ignore[attr-defined]
        # the attacker's prices would have mattered: the coordinator's own call at them moves
        # the loads and the reported cost, so an accepted attack could not have gone unnoticed
        moved = coordinator.call("RespondToPrices", price_signal("c4", 400.0, 3), timeout_s=60)
        assert moved.load_mw != loads.load_mw  # type: ignore[attr-defined]
        changed = coordinator.call("ReportCost", cost_request("traffic", "c5"), timeout_s=60)
        assert changed.cost != cost.cost  # type: ignore[attr-defined]
    finally:
        coordinator.close()
        attacker.close()


def test_callers_without_a_certificate_are_refused(
        tls_traffic: tuple[str, str], certificates: Path) -> None:
    address, health_address = tls_traffic
    anonymous = GrpcEndpoint("traffic", "traffic", address, certificates / "anonymous")
    plaintext = GrpcEndpoint("traffic", "traffic", address)
    over_health_port = GrpcEndpoint("traffic", "traffic", health_address)
    try:
        for endpoint in (anonymous, plaintext):
            with pytest.raises(CallFailedError) as refused:
                endpoint.call("Describe", describe("x1"), timeout_s=10)
            assert refused.value.reason in {"unavailable", "unauthorized"}
        # the plaintext health port reaches the servicer, which refuses: no certificate
        with pytest.raises(CallFailedError) as refused:
            over_health_port.call("Describe", describe("x2"), timeout_s=10)
        assert refused.value.reason == "unauthorized"
        assert "UNAUTHENTICATED" in refused.value.detail
    finally:
        for endpoint in (anonymous, plaintext, over_health_port):
            endpoint.close()


def test_health_is_open_without_credentials(tls_traffic: tuple[str, str]) -> None:
    _, health_address = tls_traffic
    assert health_check(health_address) == health_pb2.HealthCheckResponse.SERVING


def test_the_coordinator_refuses_another_operators_certificate(certificates: Path) -> None:
    """A server presenting the DSO's certificate where the traffic department is expected."""
    server, port = start_server(traffic_host(), "127.0.0.1:0", tls_dir=certificates / "dso")
    endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}",
                            certificates / "coordinator")
    try:
        with pytest.raises(CallFailedError) as refused:
            endpoint.call("Describe", describe("w1"), timeout_s=10)
        assert refused.value.reason == "unauthorized"
        assert f"the certificate at 127.0.0.1:{port} is not operator traffic's" in str(
            refused.value)
        started = time.monotonic()
        with pytest.raises(CallFailedError, match="is not operator traffic's"):
            endpoint.wait_until_serving(30)
        assert time.monotonic() - started < 10  # refused at once, not after the wait
        # expecting the DSO there, the handshake passes (the certificate is the DSO's) and the
        # call reaches a server that does not offer the DSO's service
        as_dso = GrpcEndpoint("dso", "dso", f"127.0.0.1:{port}", certificates / "coordinator")
        with pytest.raises(CallFailedError, match="UNIMPLEMENTED") as unimplemented:
            as_dso.call("Describe", describe("w2"), timeout_s=10)
        assert unimplemented.value.reason == "refused"
        as_dso.close()
    finally:
        endpoint.close()
        server.stop(0)


def test_a_bearer_token_is_required_when_configured(certificates: Path) -> None:
    server, port = start_server(traffic_host(), "127.0.0.1:0", token="s3cret-token")
    address = f"127.0.0.1:{port}"
    try:
        for token in (None, "wrong-token", "s3cret-token-and-more"):
            endpoint = GrpcEndpoint("traffic", "traffic", address, token=token)
            with pytest.raises(CallFailedError) as refused:
                endpoint.call("Describe", describe(f"t-{token}"), timeout_s=10)
            assert refused.value.reason == "unauthorized"
            assert "UNAUTHENTICATED" in refused.value.detail
            endpoint.close()
        assert health_check(address) == health_pb2.HealthCheckResponse.SERVING
        trusted = GrpcEndpoint("traffic", "traffic", address, token="s3cret-token")
        reply = trusted.call("Describe", describe("t-ok"), timeout_s=10)
        assert list(reply.info.stations) == list(STATIONS)  # type: ignore[attr-defined]
        trusted.close()
    finally:
        server.stop(0)


def test_certificate_and_token_together(certificates: Path) -> None:
    server, port = start_server(traffic_host(), "127.0.0.1:0", tls_dir=certificates / "traffic",
                                token="tok")
    address = f"127.0.0.1:{port}"
    try:
        without = GrpcEndpoint("traffic", "traffic", address, certificates / "coordinator")
        with pytest.raises(CallFailedError, match="UNAUTHENTICATED"):
            without.call("Describe", describe("b1"), timeout_s=10)
        without.close()
        both = GrpcEndpoint("traffic", "traffic", address, certificates / "coordinator",
                            token="tok")
        assert both.call("Describe", describe("b2"), timeout_s=10)
        both.close()
        attacker = GrpcEndpoint("traffic", "traffic", address, certificates / "cno1-client",
                                token="tok")  # a leaked token does not make a CNO the coordinator
        with pytest.raises(CallFailedError, match="PERMISSION_DENIED"):
            attacker.call("Describe", describe("b3"), timeout_s=10)
        attacker.close()
    finally:
        server.stop(0)


def test_ports_are_exclusive_and_validated() -> None:
    first, port = start_server(traffic_host(), "127.0.0.1:0")
    try:
        with pytest.raises(InvalidInputError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_server(traffic_host(), f"127.0.0.1:{port}")
        # the first server still answers
        endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
        assert endpoint.call("Describe", describe("p1"), timeout_s=10)
        endpoint.close()
    finally:
        first.stop(0)
    for address in ("127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:http", "50051"):
        with pytest.raises(InvalidInputError, match=r"port|HOST:PORT"):
            start_server(traffic_host(), address)


class SlowHost:
    """A real host whose calls first wait ``delay_s`` (a model busy with a long solve); it
    records the request ids it started."""

    def __init__(self, host: OperatorHost, delay_s: float) -> None:
        self.host = host
        self.delay_s = delay_s
        self.started: list[str] = []

    @property
    def service(self) -> str:
        return self.host.service

    @property
    def methods(self) -> Any:
        return self.host.methods

    def offers(self, method: str) -> bool:
        return self.host.offers(method)

    def handle(self, method: str, request: bytes) -> bytes:
        self.started.append(common_pb2.DescribeRequest.FromString(request).header.request_id)
        time.sleep(self.delay_s)
        return self.host.handle(method, request)


def test_load_is_shed_and_health_still_answers() -> None:
    slow = SlowHost(traffic_host(), delay_s=1.5)
    server, port = start_server(slow, "127.0.0.1:0", max_concurrent=2)
    address = f"127.0.0.1:{port}"
    outcomes: list[str] = []
    lock = threading.Lock()

    def caller(index: int) -> None:
        endpoint = GrpcEndpoint("traffic", "traffic", address)
        try:
            endpoint.call("Describe", describe(f"flood-{index}"), timeout_s=30)
            outcome = "ok"
        except CallFailedError as error:
            outcome = error.reason
        finally:
            endpoint.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(24)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        health_latencies = []
        for _ in range(3):
            started = time.monotonic()
            assert health_check(address, timeout_s=1.0) == health_pb2.HealthCheckResponse.SERVING
            health_latencies.append(time.monotonic() - started)
        for thread in threads:
            thread.join(60)
    finally:
        server.stop(0)
    assert max(health_latencies) < 1.0
    assert outcomes.count("overloaded") >= 12, outcomes
    assert 2 <= outcomes.count("ok") <= 12, outcomes
    assert set(outcomes) <= {"ok", "overloaded"}
    assert len(slow.started) == outcomes.count("ok")  # shed calls never reached the model


def test_a_call_whose_deadline_passed_is_not_started() -> None:
    """One server thread busy with a slow call; a call queued behind it with a short deadline
    has expired when the thread frees, and must not reach the model."""
    slow = SlowHost(traffic_host(), delay_s=1.5)
    server, port = start_server(slow, "127.0.0.1:0", max_concurrent=4, max_workers=1)
    address = f"127.0.0.1:{port}"
    first = GrpcEndpoint("traffic", "traffic", address)
    second = GrpcEndpoint("traffic", "traffic", address)
    try:
        busy = threading.Thread(target=first.call,
                                args=("Describe", describe("long"), 30.0))
        busy.start()
        time.sleep(0.3)
        with pytest.raises(CallFailedError) as late:
            second.call("Describe", describe("expired"), timeout_s=0.3)
        assert late.value.reason == "deadline"
        busy.join(30)
        time.sleep(0.5)
    finally:
        first.close()
        second.close()
        server.stop(0)
    assert slow.started == ["long"]


def serve_subprocess(*arguments: str) -> tuple[subprocess.Popen[str], int]:
    """``python -m ptn serve traffic ...`` of the pricing game; the process and the port it
    printed."""
    command = [sys.executable, "-m", "ptn", "serve", "traffic", "--scenario", SCENARIO,
               "--port", "0", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"serving traffic \(\S+\) on (\S+):(\d+)", line)
    if match is None:
        process.kill()
        raise AssertionError(f"no serving line: {line!r} {process.communicate()[1][-2000:]}")
    return process, int(match.group(2))


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    return stderr


def test_ptn_serve_with_mutual_tls_serves_only_the_coordinator(certificates: Path) -> None:
    process, port = serve_subprocess("--tls-dir", str(certificates / "traffic"),
                                     "--host", "127.0.0.1", "--max-concurrent", "4")
    address = f"127.0.0.1:{port}"
    coordinator = GrpcEndpoint("traffic", "traffic", address, certificates / "coordinator")
    attacker = GrpcEndpoint("traffic", "traffic", address, certificates / "cno1-client")
    try:
        coordinator.wait_until_serving(60)
        coordinator.call("RespondToPrices", price_signal("s0", 40.0, 1), timeout_s=60)
        before = coordinator.call("ReportCost", cost_request("traffic", "s1"), timeout_s=60)
        assert before.header.status == common_pb2.STATUS_OK  # type: ignore[attr-defined]
        for method, request in (("ProbeResponses", probes("s2", [500.0], 2)),
                                ("RespondToPrices", price_signal("s4", 400.0, 2))):
            with pytest.raises(CallFailedError, match="PERMISSION_DENIED"):
                attacker.call(method, request, timeout_s=60)
        after = coordinator.call("ReportCost", cost_request("traffic", "s3"), timeout_s=60)
        assert after.cost == before.cost  # type: ignore[attr-defined]
    finally:
        coordinator.close()
        attacker.close()
        stderr = stop(process)
    assert "unauthenticated" not in stderr


def test_ptn_serve_without_tls_listens_on_loopback_and_says_so() -> None:
    process, port = serve_subprocess()
    try:
        endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
        endpoint.wait_until_serving(60)
        endpoint.close()
        second = subprocess.run(
            [sys.executable, "-m", "ptn", "serve", "traffic", "--scenario", SCENARIO,
             "--port", str(port)],
            capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stderr = stop(process)
    assert re.search(rf"traffic is unauthenticated .* 127\.0\.0\.1:{port}", stderr), stderr


def test_ptn_serve_refuses_a_port_out_of_range() -> None:
    result = subprocess.run([sys.executable, "-m", "ptn", "serve", "dso", "--port", "99999"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "port 99999 is outside 0..65535" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_message_over_the_size_limit_is_refused() -> None:
    server, port = start_server(traffic_host(), "127.0.0.1:0")
    oversized = describe("x" * (MAX_MESSAGE_BYTES + 1)).SerializeToString()
    options = [("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES)]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options) as channel:
            call = channel.unary_unary(f"/{TRAFFIC_SERVICE}/Describe")
            with pytest.raises(grpc.RpcError) as refused:
                call(oversized, timeout=30)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        # the server still answers calls within the limit
        endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
        assert endpoint.call("Describe", describe("after-oversized"), timeout_s=10)
        endpoint.close()
    finally:
        server.stop(0)


def test_tokens_are_read_per_operator(tmp_path: Path) -> None:
    (tmp_path / "traffic.token").write_text("abc-123\n", encoding="utf-8")
    (tmp_path / "dso.token").write_text("  \n", encoding="utf-8")
    assert read_token(tmp_path, "traffic") == "abc-123"
    assert read_token(None, "traffic") is None
    with pytest.raises(InvalidInputError, match=r"dso\.token is empty"):
        read_token(tmp_path, "dso")
    with pytest.raises(InvalidInputError, match=r"cannot read .*cno1\.token"):
        read_token(tmp_path, "cno1")
