"""Operators for the services' tests: small real scenarios, requests, and hosts on each transport.

Why this module exists: the conformance battery (tests/services/conformance) and the state
tests of every role send the same kinds of requests to operators built from the same small
scenarios (a day resampled to two periods), hosted in this process, as Ray actors or behind an
in-process gRPC server, and reached through the coordinator's own endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ptn.coordinator.runtime.transports import (
    Endpoint,
    GrpcEndpoint,
    InProcessEndpoint,
    RayEndpoint,
)
from ptn.protocol.codec import from_series, to_series
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.hosting import build_host

#: the transports every contract is checked on
TRANSPORTS = ("inproc", "ray", "grpc")
#: (scenario, operator, periods) of each role's operator under test, small enough for a fast
#: battery: the pricing game's DSO (it quotes) and first CNO over that game's six periods (its
#: DSO's load profile has six values, which do not resample), the default scenario's traffic
#: department (inelastic EVs: it takes part in ADMM) and the profit-sharing scenario's TNO over
#: two periods (of 12 h) of their day
OPERATORS = {
    "dso": ("pricing-seed001", "dso", None),
    "traffic": ("nguyen-dupuis-ieee33", "traffic", 2),
    "tno": ("profit-sharing-seed000", "tno", 2),
    "cno": ("pricing-seed001", "cno1", None),
}


@cache
def operator_part(role: str) -> ScenarioPart:
    """The scenario part of the role's operator under test."""
    scenario, operator_id, periods = OPERATORS[role]
    return load_scenario(scenario, periods=periods).part(operator_id)


def periods_of(role: str) -> int:
    return operator_part(role).public.periods


def header(operator_id: str, request_id: str, negotiation: str = "n1",
           round_number: int = 1) -> common_pb2.RequestHeader:
    return common_pb2.RequestHeader(negotiation_id=negotiation, round=round_number,
                                    operator_id=operator_id, request_id=request_id)


def series(stations: Sequence[str], values: Any) -> common_pb2.StationSeries:
    return to_series(stations, np.asarray(values, dtype=np.float64))


def consensus_step(operator_id: str, request_id: str, stations: Sequence[str], periods: int,
                   price: Any, target: Any, penalty: float,
                   negotiation: str = "n1") -> common_pb2.ConsensusStep:
    """An ADMM step's request (λ and z broadcast to (stations, periods))."""
    shape = (len(stations), periods)
    return common_pb2.ConsensusStep(
        header=header(operator_id, request_id, negotiation),
        price_per_mwh=series(stations, np.broadcast_to(price, shape)),
        target_load_mw=series(stations, np.broadcast_to(target, shape)),
        penalty_per_mw2h=penalty)


def cost_request(operator_id: str, request_id: str,
                 negotiation: str = "n1") -> common_pb2.CostRequest:
    return common_pb2.CostRequest(header=header(operator_id, request_id, negotiation))


def describe_request(operator_id: str, request_id: str,
                     negotiation: str = "n1") -> common_pb2.DescribeRequest:
    return common_pb2.DescribeRequest(header=header(operator_id, request_id, negotiation))


def loads_of(reply: Any, stations: Sequence[str], periods: int,
             what: str = "load_mw") -> np.ndarray:
    return from_series(getattr(reply, what), stations, periods, what)


@dataclass
class Hosts:
    """Operators hosted on one transport; :meth:`close` stops what was started."""

    transport: str
    private_root: Path | None = None
    _stoppers: list[Any] = field(default_factory=list)

    def host(self, part: ScenarioPart, private_dir: Path | None = None) -> Endpoint:
        """A fresh host of ``part`` on this transport, reached through the coordinator's
        endpoint (with ``private_dir``, the host keeps its state there)."""
        if self.transport == "inproc":
            return InProcessEndpoint(build_host(part, private_dir))
        if self.transport == "grpc":
            from ptn.services.adapters.grpc_server import start_server

            server, port = start_server(build_host(part, private_dir), "127.0.0.1:0")
            endpoint = GrpcEndpoint(part.role, part.operator_id, f"127.0.0.1:{port}")
            self._stoppers.append(lambda: (endpoint.close(), server.stop(0)))
            return endpoint
        if self.transport == "ray":
            import ray

            from ptn.services.adapters.ray_actor import OperatorActor

            actor = OperatorActor.remote(  # type: ignore[attr-defined]
                part, None if private_dir is None else str(private_dir))
            ray.get(actor.ready.remote(), timeout=300)
            self._stoppers.append(lambda: ray.kill(actor))
            return RayEndpoint(part.role, part.operator_id, actor)
        raise ValueError(f"unknown transport {self.transport!r}")

    def close(self) -> None:
        for stop in reversed(self._stoppers):
            stop()
        self._stoppers.clear()


#: a step of a scripted exchange: from the replies so far, the next (method, request)
Step = Callable[[list[Any]], tuple[str, Any]]


def run_steps(endpoint: Endpoint, steps: Sequence[Step], replies: list[Any],
              timeout_s: float = 120.0) -> list[Any]:
    """Send each step's request in turn, appending its reply to ``replies`` (returned)."""
    for step in steps:
        method, request = step(replies)
        replies.append(endpoint.call(method, request, timeout_s))
    return replies


def resumed_replies(part: ScenarioPart, steps: Sequence[Step], interrupt_after: int,
                    directory: Path) -> tuple[list[Any], list[Any]]:
    """The replies of one host answering every step, and of a host that answered the first
    ``interrupt_after`` steps and was replaced by a new one restoring its ``state.json``
    (both in this process, the second keeping its state in ``directory``)."""
    uninterrupted = run_steps(InProcessEndpoint(build_host(part)), steps, [])
    replies = run_steps(InProcessEndpoint(build_host(part, directory)),
                        steps[:interrupt_after], [])
    assert (directory / "state.json").exists(), "the host kept no state"
    run_steps(InProcessEndpoint(build_host(part, directory)), steps[interrupt_after:], replies)
    return uninterrupted, replies


def assert_same_replies(expected: Sequence[Any], actual: Sequence[Any],
                        rel: float = 1e-6, abs_: float = 1e-9) -> None:
    """Replies equal field by field, numbers to ``rel`` (or ``abs_``), the time taken aside."""
    assert len(expected) == len(actual)
    for k, (first, second) in enumerate(zip(expected, actual, strict=True)):
        _assert_close(_fields(first), _fields(second), f"reply {k}", rel, abs_)


def _fields(reply: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    data = MessageToDict(reply, preserving_proto_field_name=True)
    data.get("header", {}).pop("solve_seconds", None)
    return data


def _assert_close(expected: Any, actual: Any, where: str, rel: float, abs_: float) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        # proto3 leaves out a number field that is 0: compare it as 0
        for key in expected.keys() | actual.keys():
            default = 0.0 if isinstance(expected.get(key, actual.get(key)), float) else None
            _assert_close(expected.get(key, default), actual.get(key, default), f"{where}.{key}",
                          rel, abs_)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), where
        for k, (a, b) in enumerate(zip(expected, actual, strict=True)):
            _assert_close(a, b, f"{where}[{k}]", rel, abs_)
    elif isinstance(expected, float) or isinstance(actual, float):
        a, b = float(expected), float(actual)
        assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= max(rel * max(abs(a), abs(b)),
                                                                   abs_), \
            f"{where}: {a!r} != {b!r}"
    else:
        assert expected == actual, f"{where}: {expected!r} != {actual!r}"
