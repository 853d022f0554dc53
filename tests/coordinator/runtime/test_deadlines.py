"""Call deadlines: the automatic policy, the scenario key, and what a missed deadline says."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ptn.coordinator.runner import driver_settings
from ptn.coordinator.runtime.deadlines import (
    FIRST_CALL_S,
    FLOOR_S,
    GROWTH,
    DeadlinePolicy,
    suggested_timeout_s,
)
from ptn.coordinator.runtime.driver import Driver, DriverSettings, NegotiationFailedError
from ptn.coordinator.runtime.transports import CallFailedError, Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import load_scenario, scenario_from_text


class SlowEndpoint(Endpoint):
    """A traffic operator that takes ``seconds`` per call and records each call's deadline;
    in-process semantics: a late reply is a missed deadline that knows its time."""

    transport = "test"

    def __init__(self, seconds: float) -> None:
        super().__init__("traffic", "traffic")
        self.seconds = seconds
        self.deadlines: list[float] = []

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        self.deadlines.append(timeout_s)
        time.sleep(self.seconds)
        if self.seconds > timeout_s:
            raise CallFailedError(self.operator_id, method, "deadline",
                                  f"answered after {self.seconds:.3g} s",
                                  answered_after_s=self.seconds)
        reply = common_pb2.DescribeReply()
        reply.header.status = common_pb2.STATUS_OK
        return reply.SerializeToString()


def test_the_automatic_policy_is_generous_first_then_follows_the_calls() -> None:
    policy = DeadlinePolicy()
    assert policy.timeout_s("traffic", "ConsensusStep") == FIRST_CALL_S
    policy.observe("traffic", "ConsensusStep", 120.0)  # a first call that compiled kernels
    assert policy.timeout_s("traffic", "ConsensusStep") == GROWTH * 120.0
    assert policy.timeout_s("dso", "ConsensusStep") == FIRST_CALL_S  # per operator and RPC
    slow = DeadlinePolicy()
    slow.observe("dso", "Dispatch", 0.5)
    assert slow.timeout_s("dso", "Dispatch") == FLOOR_S  # 10 × 0.5 s is below the floor
    assert DeadlinePolicy(45.0).timeout_s("dso", "Dispatch") == 45.0


def test_a_suggested_deadline_covers_what_the_call_took() -> None:
    assert suggested_timeout_s(100.0, 60.0) == 150.0  # 1.5 × 100 s, a multiple of 30 s
    assert suggested_timeout_s(None, 180.0) == 360.0  # twice the 180 s waited in all
    assert suggested_timeout_s(1.0, 0.2) == 30.0


def test_the_driver_uses_the_learnt_deadline_for_later_calls() -> None:
    endpoint = SlowEndpoint(0.01)
    driver = Driver({"traffic": endpoint}, DriverSettings())
    for _ in range(2):
        driver.call("traffic", "Describe", common_pb2.DescribeRequest())
    driver.close()
    assert endpoint.deadlines[0] == FIRST_CALL_S
    assert endpoint.deadlines[1] == FLOOR_S


def test_a_missed_deadline_names_the_key_the_call_the_time_and_a_value_that_works() -> None:
    endpoint = SlowEndpoint(0.3)
    driver = Driver({"traffic": endpoint}, DriverSettings(call_timeout_s=0.1, retries=1))
    started = time.perf_counter()
    with pytest.raises(NegotiationFailedError) as failure:
        driver.call("traffic", "Describe", common_pb2.DescribeRequest(), 3)
    waited = time.perf_counter() - started
    driver.close()
    text = str(failure.value)
    assert len(endpoint.deadlines) == 2  # the first attempt and one retry
    assert "operator traffic (test) missed its 0.1 s deadline for Describe in round 3" in text
    shown = re.search(r"\(2 attempts, ([\d.]+) s waited\)", text)
    assert shown is not None, text
    assert 0.6 <= float(shown.group(1)) <= waited + 0.01  # two attempts of 0.3 s each (3 digits)
    assert "it answered after 0.3 s: set [coordinator] call_timeout_s = 30 (or more)" in text


def test_the_scenario_key_is_auto_when_unset(tmp_path: Path) -> None:
    shipped = load_scenario("nguyen-dupuis-ieee33")
    text = re.sub(r"(?m)^call_timeout_s = .*\n", "", shipped.text)
    fixed = scenario_from_text(text.replace("retries = 2", "retries = 2\ncall_timeout_s = 45"),
                               source="x.toml", base_directory=tmp_path)
    assert fixed.coordinator.call_timeout_s == 45.0
    assert driver_settings(fixed.coordinator, None).call_timeout_s == 45.0
    unset = scenario_from_text(text, source="x.toml", base_directory=tmp_path)
    assert unset.coordinator.call_timeout_s is None
    assert driver_settings(unset.coordinator, None).call_timeout_s is None
    auto = scenario_from_text(text.replace("retries = 2", 'retries = 2\ncall_timeout_s = "auto"'),
                              source="x.toml", base_directory=tmp_path)
    assert auto.coordinator.call_timeout_s is None
    with pytest.raises(InvalidInputError, match=r"coordinator.call_timeout_s.*seconds or \"auto\""):
        scenario_from_text(text.replace("retries = 2", 'retries = 2\ncall_timeout_s = "fast"'),
                           source="x.toml", base_directory=tmp_path)


class ChattyEndpoint(SlowEndpoint):
    """An operator whose usable replies carry a message (``text``)."""

    def __init__(self, text: str) -> None:
        super().__init__(0.0)
        self.text = text

    def _send(self, method: str, data: bytes, timeout_s: float) -> bytes:
        reply = common_pb2.DescribeReply()
        reply.header.status = common_pb2.STATUS_INEXACT
        reply.header.message = self.text
        return reply.SerializeToString()


def test_messages_of_usable_replies_become_one_warning_per_operator_and_rpc() -> None:
    driver = Driver({"traffic": ChattyEndpoint("station cs6 binds")}, DriverSettings())
    for _ in range(3):
        driver.call("traffic", "Describe", common_pb2.DescribeRequest())
    assert driver.warnings() == ("traffic Describe (3 replies; the last): station cs6 binds",)
    flood = Driver({"traffic": ChattyEndpoint("x" * 100_000)}, DriverSettings())
    flood.call("traffic", "Describe", common_pb2.DescribeRequest())
    (warning,) = flood.warnings()
    assert len(warning) < 2100 and warning.endswith("... (100,000 characters)")
    driver.close()
    flood.close()
