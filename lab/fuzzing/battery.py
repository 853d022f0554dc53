"""The fuzz battery: hostile requests to an operator served over gRPC in its own process.

Why this module exists: issue 15 item 4 requires that no message crashes an operator, hangs a
call, or gets an undocumented answer, and that a legitimate negotiation afterwards gives the
numbers of a fresh operator. Each :class:`Target` is one operator role of a cheap scenario,
served by ``ptn serve`` as a separate process (so a segfault is seen as a dead process, not a
dead battery). For every RPC of the role's service, :class:`~ptn.lab.fuzzing.messages.
MessageFuzzer` sends ``per_rpc`` requests, each with a deadline; every answer is classified:

* a reply whose header status is one of ``common_pb2.Status`` (not UNSPECIFIED), whose request
  id is the request's, and which, when OK or INEXACT, carries only finite numbers (the DSO's
  documented NaN revenue aside);
* or a gRPC error whose code is in :data:`ALLOWED_CODES`.

Anything else is a finding (with the exact request, base64, to replay): the process died
(``crash``), the call hit the client's deadline (``hang``), another gRPC code, an undecodable
or undocumented reply. Afterwards the battery ends the fuzzing negotiation (``EndNegotiation``
when the service has it) and runs the target's legitimate negotiations with this operator over
gRPC, the others in-process, and compares every number (rtol 1e-9) with the same negotiations
against a freshly started operator.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.transports import GrpcEndpoint
from ptn.lab.fuzzing.checkpoints import numbers_of
from ptn.lab.fuzzing.messages import (
    MessageFuzzer,
    record_requests,
    samples_by_method,
    shaped_request,
)
from ptn.protocol.schema import MethodSpec, service_methods, service_name
from ptn.protocol.v1 import common_pb2
from ptn.scenario.document import Scenario, load_scenario
from ptn.services.replies import REPLY_CACHE_SIZE

#: gRPC codes an operator may answer a hostile request with (issue 15's documented refusals)
ALLOWED_CODES = frozenset({
    "INVALID_ARGUMENT", "FAILED_PRECONDITION", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED",
    "DEADLINE_EXCEEDED", "UNAUTHENTICATED", "PERMISSION_DENIED", "UNIMPLEMENTED",
})
#: reply statuses of the protocol (UNSPECIFIED is no status)
DOCUMENTED_STATUSES = frozenset(
    value.name for value in common_pb2.Status.DESCRIPTOR.values
    if value.name != "STATUS_UNSPECIFIED")
#: reply fields documented as NaN in some answers (common.proto: DispatchReply.revenue)
NAN_ALLOWED = frozenset({("DispatchReply", "revenue")})
#: the negotiation id the battery fuzzes under (a legitimate negotiation afterwards uses another)
FUZZ_NEGOTIATION = "fuzz-battery"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: requests kept per kind of finding (every crash and hang is kept)
KEPT_FINDINGS = 10
#: how close a legitimate negotiation after fuzzing must come to a fresh operator's
RTOL = 1e-9


@dataclass(frozen=True)
class Target:
    """An operator to fuzz: its role and id in a (cheap) built-in scenario, resampled to
    ``periods``, and the legitimate negotiations to check it with afterwards (coordinator
    overrides, one dict per negotiation)."""

    name: str
    role: str
    operator_id: str
    scenario: str
    periods: int | None
    negotiations: tuple[dict[str, Any], ...]

    def load(self, overrides: dict[str, Any] | None = None) -> Scenario:
        scenario = load_scenario(self.scenario, periods=self.periods)
        if overrides:
            scenario = replace(scenario, coordinator=replace(scenario.coordinator, **overrides))
        return scenario


_SHORT_GAME = {"max_rounds": 8, "variants": ("nash",), "certificate": False,
               "revenue_matrix": False}
_SHORT_ADMM = {"max_rounds": 40}
#: one operator per role (the CI's short battery), then the same roles in their other
#: mechanism: the pricing game's traffic department has price-sensitive demand and refuses ADMM
#: steps, the default scenario's takes them (and is where issue 15's crash was)
TARGETS = {
    "traffic": Target("traffic", "traffic", "traffic", "nguyen-dupuis-ieee33", 2, (_SHORT_ADMM,)),
    "dso": Target("dso", "dso", "dso", "pricing-seed001", None, (_SHORT_GAME,)),
    "cno": Target("cno", "cno", "cno1", "pricing-seed001", None, (_SHORT_GAME,)),
    "tno": Target("tno", "tno", "tno", "profit-sharing-seed000", 2,
                  ({"shares": (0.0, 0.3, 1.0), "refine_tolerance": 1.0},)),
    "traffic-game": Target("traffic-game", "traffic", "traffic", "pricing-seed001", None,
                           (_SHORT_GAME,)),
    "dso-admm": Target("dso-admm", "dso", "dso", "nguyen-dupuis-ieee33", 2, (_SHORT_ADMM,)),
}
#: the CI's short battery: one target per role
ROLE_TARGETS = ("traffic", "dso", "cno", "tno")


@dataclass(frozen=True)
class Finding:
    """An answer outside the documented ones, with the request that caused it."""

    target: str
    role: str
    method: str
    kind: str  # how the request was made
    outcome: str  # crash, hang, UNDOCUMENTED:...
    detail: str
    request_b64: str


@dataclass
class RoleReport:
    """One target's battery: outcome counts per RPC, findings, the legitimate check."""

    target: Target
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    #: per legitimate negotiation: (name, numbers compared, differing, largest relative diff)
    legitimate: list[tuple[str, int, int, float]] = field(default_factory=list)
    restarts: int = 0
    #: every finding counted by (RPC, outcome, request kind); ``findings`` keeps the first
    #: :data:`KEPT_FINDINGS` requests of each
    finding_counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: wall seconds of each RPC's requests, and of the phases (samples, servers, checks)
    method_seconds: dict[str, float] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.finding_counts and all(d == 0 for _, _, d, _ in self.legitimate)


class OperatorProcess:
    """``ptn serve`` of one target on a free localhost port, its stderr in ``log``."""

    def __init__(self, target: Target, log: Path) -> None:
        self.target = target
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self, timeout_s: float = 120.0) -> None:
        command = [sys.executable, "-m", "ptn", "serve", self.target.role, "--scenario",
                   self.target.scenario, "--port", "0", "--host", "127.0.0.1",
                   "--operator-id", self.target.operator_id]
        if self.target.periods is not None:
            command += ["--periods", str(self.target.periods)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log,
                                            text=True)
        assert self.process.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(
            self.process.stdout.readline() if self.process and self.process.stdout else ""),
            daemon=True)
        reader.start()
        reader.join(timeout_s)
        match = re.search(r":(\d+)\s*$", found[0]) if found else None
        if match is None:
            self.stop()
            raise RuntimeError(f"ptn serve {self.target.role} did not start within "
                               f"{timeout_s:g} s (log: {self.log})")
        self.address = f"127.0.0.1:{match.group(1)}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


class RawClient:
    """Bytes over gRPC to one operator's service (no client-side validation)."""

    def __init__(self, role: str, address: str) -> None:
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self.channel = grpc.insecure_channel(address, options)
        self.service = service_name(role)

    def call(self, method: str, data: bytes, timeout_s: float) -> bytes:
        stub = self.channel.unary_unary(f"/{self.service}/{method}")
        reply: bytes = stub(data, timeout=timeout_s)
        return reply

    def close(self) -> None:
        self.channel.close()


def classify(spec: MethodSpec, request: bytes, call: Callable[[], bytes],
             deadline_s: float) -> tuple[str, str]:
    """(outcome, detail) of one call: a documented status or code, or ``UNDOCUMENTED:...`` /
    ``hang``."""
    started = time.monotonic()
    try:
        data = call()
    except grpc.RpcError as error:
        code = error.code().name if hasattr(error, "code") and error.code() else "UNKNOWN"
        detail = str(error.details()) if hasattr(error, "details") else str(error)
        if code == "DEADLINE_EXCEEDED" and time.monotonic() - started >= 0.9 * deadline_s:
            return "hang", f"no answer within {deadline_s:g} s"
        if code in ALLOWED_CODES:
            return f"grpc:{code}", detail
        return f"UNDOCUMENTED:grpc:{code}", detail[:500]
    try:
        reply = spec.output_type.FromString(data)
    except DecodeError as error:
        return "UNDOCUMENTED:undecodable reply", str(error)
    header = reply.header  # type: ignore[attr-defined]
    status = common_pb2.Status.Name(header.status) if header.status in \
        common_pb2.Status.values() else str(header.status)
    if status not in DOCUMENTED_STATUSES:
        return f"UNDOCUMENTED:status {status}", header.message[:500]
    request_id = _request_id(spec, request)
    if request_id is not None and header.request_id != request_id:
        return f"UNDOCUMENTED:{status} for another request id", \
            f"sent {request_id[:80]!r}, answered {header.request_id[:80]!r}"
    if status in ("STATUS_OK", "STATUS_INEXACT"):
        bad = _non_finite(reply)
        if bad:
            return f"UNDOCUMENTED:{status} with non-finite numbers", ", ".join(bad[:5])
    return status, header.message[:200]


def _request_id(spec: MethodSpec, request: bytes) -> str | None:
    """The request's id when it decodes and has one (None: nothing to compare with)."""
    try:
        message = spec.input_type.FromString(request)
    except DecodeError:
        return None
    header = getattr(message, "header", None)
    if header is None or not header.request_id:
        return None
    identifier: str = header.request_id
    return identifier


def _non_finite(message: Message, path: str = "") -> list[str]:
    bad = []
    for descriptor, value in message.ListFields():
        name = f"{path}{descriptor.name}"
        if descriptor.message_type is not None:
            items = value if descriptor.is_repeated else [value]
            for item in items:
                bad += _non_finite(item, name + ".")
        elif descriptor.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            values = value if descriptor.is_repeated else [value]
            if (message.DESCRIPTOR.name, descriptor.name) in NAN_ALLOWED:
                continue
            if any(not math.isfinite(v) for v in values):
                bad.append(name)
    return bad


class ReplayLedger:
    """The request ids answered so far per method, with their content: a repeated id of a
    method with other content must be refused (issue 15 item 3: the reply cache is keyed by
    method and request id and checks the content), not answered. The same id on another method
    is another request, answered as that method's; an id whose request was refused was never
    taken, and may come again with other content. The cache is bounded
    (:data:`~ptn.services.replies.REPLY_CACHE_SIZE` answered requests): an id answered longer
    ago than that is forgotten, and may come again too (a coordinator's retry that late is of
    an older round, which the operator refuses as going backwards)."""

    #: outcomes that refuse a request
    REFUSALS = frozenset({"STATUS_INVALID_REQUEST"} | {f"grpc:{c}" for c in ALLOWED_CODES})

    def __init__(self, remembered: int = REPLY_CACHE_SIZE) -> None:
        self.remembered = remembered
        #: replies in band so far (each is an entry of the host's reply cache)
        self.answered = 0
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}

    def check(self, method: str, data: bytes, spec: MethodSpec, outcome: str) -> str:
        """``outcome``, or an undocumented one for an answered replay of other content."""
        request_id = _request_id(spec, data)
        if request_id is not None and not outcome.startswith(("grpc:", "UNDOCUMENTED")) \
                and outcome not in ("crash", "hang"):
            self.answered += 1  # every reply in band takes a place in the host's cache
        if request_id is None or outcome in self.REFUSALS or outcome.startswith("UNDOCUMENTED") \
                or outcome in ("crash", "hang"):
            return outcome  # a refused request is not kept: its id may come again, anew
        key = (method, hashlib.sha256(request_id.encode("utf-8")).hexdigest())
        content = hashlib.sha256(data).hexdigest()
        first = self.seen.get(key)
        if first is None or first[0] == content \
                or self.answered - first[1] > self.remembered:
            if first is None or first[0] != content:
                self.seen[key] = (content, self.answered)
            return outcome
        return f"UNDOCUMENTED:{outcome} to a reused request id with other content"


def fuzzers(target: Target, seed: int) -> dict[str, MessageFuzzer]:
    """One generator per RPC of the target's service (EndNegotiation aside: it is sent
    legitimately at the end), from the requests of its legitimate negotiations."""
    methods = service_methods(target.role)
    samples: dict[str, list[Message]] = {}
    for overrides in target.negotiations:
        recorded = record_requests(target.load(overrides)).get(target.operator_id, [])
        for method, found in samples_by_method(target.role, recorded).items():
            samples.setdefault(method, []).extend(found)
    scenario = target.load()
    stations = list(scenario.public.stations)
    rng = random.Random(seed)
    for method, spec in methods.items():
        if not samples.get(method):
            samples[method] = [shaped_request(spec, stations, scenario.public.periods, rng)
                               for _ in range(4)]
    others = [message.SerializeToString() for method, found in samples.items()
              for message in found[:3]]
    rounds = itertools.count(1)  # one coordinator's rounds, forwards over every RPC
    return {method: MessageFuzzer(spec, samples[method][:200], others,
                                  operator_id=target.operator_id,
                                  negotiation_id=FUZZ_NEGOTIATION, seed=seed, rounds=rounds)
            for method, spec in methods.items() if method != "EndNegotiation"}


def legitimate_numbers(target: Target, address: str | None) -> list[dict[str, float]]:
    """The numbers of the target's legitimate negotiations, with the target operator at
    ``address`` over gRPC (None: in this process) and the others in this process."""
    found = []
    for overrides in target.negotiations:
        scenario = target.load(overrides)
        endpoints = inproc_endpoints(scenario)
        remote = None
        if address is not None:
            remote = GrpcEndpoint(target.role, target.operator_id, address)
            endpoints[target.operator_id] = remote
        try:
            found.append(numbers_of(negotiate(scenario, endpoints)))
        finally:
            if remote is not None:
                remote.close()
    return found


def compare(expected: dict[str, float], got: dict[str, float]) -> tuple[int, int, float]:
    """(numbers compared, differing beyond RTOL, largest relative difference)."""
    keys = sorted(set(expected) | set(got))
    differing, largest = 0, 0.0
    for key in keys:
        a, b = expected.get(key, math.nan), got.get(key, math.nan)
        if (key not in expected) or (key not in got):
            differing += 1
            largest = math.inf
            continue
        if np.isclose(a, b, rtol=RTOL, atol=1e-12, equal_nan=True):
            continue
        differing += 1
        scale = max(abs(a), abs(b), 1e-300)
        largest = max(largest, abs(a - b) / scale if math.isfinite(a - b) else math.inf)
    return len(keys), differing, largest


def end_negotiation(client: RawClient, target: Target, deadline_s: float) -> None:
    """Release the operator from the fuzzing negotiation, when its service can."""
    spec = service_methods(target.role).get("EndNegotiation")
    if spec is None:
        return
    request = spec.input_type()
    header = request.header  # type: ignore[attr-defined]
    header.negotiation_id = FUZZ_NEGOTIATION
    header.operator_id = target.operator_id
    header.request_id = "fuzz-battery-end"
    client.call("EndNegotiation", request.SerializeToString(), deadline_s)


def run_target(target: Target, per_rpc: int, *, seed: int = 0, deadline_s: float = 30.0,
               log_directory: Path | None = None,
               progress: Callable[[str], None] | None = None) -> RoleReport:
    """Fuzz one target with ``per_rpc`` requests per RPC, then check it legitimately."""
    started = time.perf_counter()
    report = RoleReport(target)
    generators = fuzzers(target, seed)
    report.phase_seconds["samples"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="ptn-fuzz-") as scratch:
        logs = log_directory or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        server = OperatorProcess(target, logs / f"{target.operator_id}-fuzzed.log")
        server.start()
        client = RawClient(target.role, server.address)
        try:
            # bind the fuzzing negotiation with one legitimate request first
            replays = ReplayLedger()
            describe = generators["Describe"]
            client.call("Describe", describe.legitimate().SerializeToString(), deadline_s)
            for method, generator in generators.items():
                counts = report.counts.setdefault(method, Counter())
                spec = generator.spec
                method_started = time.perf_counter()
                for index in range(per_rpc):
                    fuzzed = next(generator)
                    outcome, detail = classify(
                        spec, fuzzed.data,
                        partial(client.call, method, fuzzed.data, deadline_s),
                        deadline_s)
                    outcome = replays.check(method, fuzzed.data, spec, outcome)
                    if not server.alive():
                        outcome = "crash"
                        detail = f"exit {server.returncode()} (log: {server.log})"
                    counts[outcome] += 1
                    group = (method, outcome, fuzzed.kind)
                    found = outcome in ("crash", "hang") or outcome.startswith("UNDOCUMENTED")
                    if found:
                        report.finding_counts[group] += 1
                    if found and (outcome in ("crash", "hang")
                                  or report.finding_counts[group] <= KEPT_FINDINGS):
                        report.findings.append(Finding(
                            target.name, target.role, method, fuzzed.kind, outcome, detail,
                            base64.b64encode(fuzzed.data).decode("ascii")))
                    if outcome == "crash":
                        client.close()
                        server.stop()
                        server.start()
                        report.restarts += 1
                        client = RawClient(target.role, server.address)
                        client.call("Describe", describe.legitimate().SerializeToString(),
                                    deadline_s)
                    if progress is not None and (index + 1) % 1000 == 0:
                        progress(f"{target.role} {method}: {index + 1}/{per_rpc} "
                                 f"{dict(counts)}")
                report.method_seconds[method] = time.perf_counter() - method_started
            end_negotiation(client, target, deadline_s)
            checked = time.perf_counter()
            after = legitimate_numbers(target, server.address)
            report.phase_seconds["check after fuzzing"] = time.perf_counter() - checked
        finally:
            client.close()
            server.stop()
        fresh_server = OperatorProcess(target, logs / f"{target.operator_id}-fresh.log")
        fresh_server.start()
        try:
            fresh = legitimate_numbers(target, fresh_server.address)
        finally:
            fresh_server.stop()
    for overrides, expected, got in zip(target.negotiations, fresh, after, strict=True):
        name = str(overrides.get("mechanism", target.load().coordinator.mechanism))
        report.legitimate.append((name, *compare(expected, got)))
    report.seconds = time.perf_counter() - started
    return report


def replay(target: Target, method: str, request: bytes, *, deadline_s: float = 30.0,
           log: Path | None = None) -> tuple[str, str, bool]:
    """Send one request to a fresh operator: (outcome, detail, whether the process lives)."""
    with tempfile.TemporaryDirectory(prefix="ptn-replay-") as scratch:
        server = OperatorProcess(target, log or Path(scratch) / "replay.log")
        server.start()
        client = RawClient(target.role, server.address)
        try:
            spec = service_methods(target.role)[method]
            outcome, detail = classify(spec, request,
                                       lambda: client.call(method, request, deadline_s),
                                       deadline_s)
            time.sleep(0.5)
            return outcome, detail, server.alive()
        finally:
            client.close()
            server.stop()
