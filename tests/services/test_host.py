"""The operator host: only protobuf crosses, request ids are idempotent, failures are data."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from ptn.coordinator.runtime.transports import CallFailedError, GrpcEndpoint, InProcessEndpoint
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario
from ptn.services.adapters.grpc_server import start_server
from ptn.services.bindings.base import Binding, Rpc, describe
from ptn.services.contract import Operator, OperatorDescription
from ptn.services.host import OperatorHost, service_methods
from ptn.services.traffic.model import TrafficDepartmentModel

STATIONS = ("cs6", "cs10", "cs11")


@pytest.fixture(scope="module")
def traffic_host() -> OperatorHost:
    return OperatorHost(TrafficDepartmentModel.from_part(load_scenario().part("traffic")))


def price_signal(request_id: str, price: float = 85.0,
                 operator_id: str = "traffic") -> common_pb2.PriceSignal:
    header = common_pb2.RequestHeader(negotiation_id="n", round=1, operator_id=operator_id,
                                      request_id=request_id)
    return common_pb2.PriceSignal(header=header,
                                  price_per_mwh=to_series(STATIONS, np.full((3, 24), price)))


def answer(host: OperatorHost, method: str, request: object, reply_type: type) -> object:
    return reply_type.FromString(host.handle(method, request.SerializeToString()))  # type: ignore[attr-defined]


def test_a_repeated_request_id_is_answered_from_the_first_reply(
        traffic_host: OperatorHost) -> None:
    first = answer(traffic_host, "RespondToPrices", price_signal("r-1", 85.0),
                   common_pb2.LoadReply)
    # another request in between changes the model's state (its warm start)
    answer(traffic_host, "RespondToPrices", price_signal("r-2", 150.0), common_pb2.LoadReply)
    before = traffic_host.metrics.duplicates.labels("traffic", "RespondToPrices")._value.get()
    again = answer(traffic_host, "RespondToPrices", price_signal("r-1", 85.0),
                   common_pb2.LoadReply)
    assert again == first
    after = traffic_host.metrics.duplicates.labels("traffic", "RespondToPrices")._value.get()
    assert after == before + 1


def test_concurrent_retry_waits_for_the_first_computation(traffic_host: OperatorHost) -> None:
    replies: list[bytes] = []
    request = price_signal("r-concurrent", 120.0).SerializeToString()
    threads = [threading.Thread(target=lambda: replies.append(
        traffic_host.handle("RespondToPrices", request))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(replies)) == 1
    assert common_pb2.LoadReply.FromString(replies[0]).header.status == common_pb2.STATUS_OK


def test_invalid_requests_are_refused_with_a_status(traffic_host: OperatorHost) -> None:
    wrong = answer(traffic_host, "RespondToPrices", price_signal("r-3", operator_id="dso"),
                   common_pb2.LoadReply)
    assert wrong.header.status == common_pb2.STATUS_INVALID_REQUEST  # type: ignore[attr-defined]
    assert "addressed to 'dso'" in wrong.header.message  # type: ignore[attr-defined]
    no_id = answer(traffic_host, "RespondToPrices", price_signal(""), common_pb2.LoadReply)
    assert "request_id" in no_id.header.message  # type: ignore[attr-defined]
    garbage = common_pb2.LoadReply.FromString(traffic_host.handle("RespondToPrices",
                                                                  b"\xff\xff\xff"))
    assert garbage.header.status == common_pb2.STATUS_INVALID_REQUEST
    signal = price_signal("r-4")
    signal.price_per_mwh.stations[1] = "cs99"
    unknown = answer(traffic_host, "RespondToPrices", signal, common_pb2.LoadReply)
    assert unknown.header.status == common_pb2.STATUS_INVALID_REQUEST  # type: ignore[attr-defined]
    assert "unknown station cs99" in unknown.header.message  # type: ignore[attr-defined]


def test_series_round_trip_reorders_by_station_name() -> None:
    values = np.arange(6.0).reshape(3, 2)
    series = to_series(("a", "b", "c"), values)
    assert np.array_equal(from_series(series, ("c", "a", "b"), 2, "x"), values[[2, 0, 1]])


class SlowModel:
    """A traffic department that takes longer than any deadline and offers only Describe."""

    role = "traffic"
    operator_id = "traffic"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def describe(self) -> OperatorDescription:
        time.sleep(self.seconds)
        return OperatorDescription("traffic", "traffic", STATIONS, 24, 1.0)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


DESCRIBE_ONLY: Binding[Operator] = Binding("traffic", (
    Rpc("Describe", common_pb2.DescribeRequest, describe),))


def test_missed_deadline_names_the_operator_over_grpc_and_in_process() -> None:
    host = OperatorHost(SlowModel(1.0), binding=DESCRIBE_ONLY)
    server, port = start_server(host, "127.0.0.1:0")
    try:
        endpoint = GrpcEndpoint("traffic", "traffic", f"127.0.0.1:{port}")
        request = common_pb2.DescribeRequest(header=common_pb2.RequestHeader(
            operator_id="traffic", request_id="slow"))
        with pytest.raises(CallFailedError) as error:
            endpoint.call("Describe", request, timeout_s=0.2)
        assert error.value.reason == "deadline" and error.value.operator_id == "traffic"
        endpoint.close()
    finally:
        server.stop(0)
    with pytest.raises(CallFailedError, match="deadline"):
        InProcessEndpoint(host).call("Describe", request, timeout_s=0.2)


def test_methods_a_model_lacks_are_unimplemented_over_grpc() -> None:
    partial_host = OperatorHost(SlowModel(0.0), binding=DESCRIBE_ONLY)
    assert "ProbeResponses" in service_methods("traffic")
    assert not partial_host.offers("ProbeResponses")
    server, port = start_server(partial_host, "127.0.0.1:0")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        call = channel.unary_unary("/negotiation.v1.TrafficDepartment/ProbeResponses")
        with pytest.raises(grpc.RpcError) as error:
            call(b"", timeout=5)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
        channel.close()
    finally:
        server.stop(0)


def test_health_service_reports_serving(traffic_host: OperatorHost, tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server, port = start_server(traffic_host, "127.0.0.1:0")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "negotiation.v1.TrafficDepartment"):
            answer_ = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer_.status == health_pb2.HealthCheckResponse.SERVING
        channel.close()
    finally:
        server.stop(0)
