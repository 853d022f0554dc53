"""The one driver loop every mechanism runs on: rounds, messages, deadlines, retries, records.

Why this module exists: mechanisms (ADMM, best response, profit sharing) differ only in what
they ask and how they update (PowerModelsADA's habit: fixed hooks over one driver). The driver
owns everything else, once:

* **rounds and phases**: in a round it asks the mechanism for the next phase's calls
  (:meth:`Mechanism.requests`) until it returns none; calls within a phase run concurrently;
* **messaging**: every request gets a header (negotiation id, round, operator id, a fresh
  request id); replies with an error status end the negotiation with a message naming the
  operator;
* **deadlines and retries**: each call has a deadline; a call whose reply did not arrive
  (transport ``unavailable``) is sent again with the *same* request id, so an operator that did
  receive it answers from its first reply instead of applying it twice; a missed deadline ends
  the negotiation naming the operator;
* **convergence**: :meth:`Mechanism.converged` after each round, up to ``max_rounds``;
* **checkpoints**: after every round an atomic JSON checkpoint (write, fsync, rename) of the
  mechanism's state; :meth:`Driver.run` resumes from one;
* **transcript**: every request, reply and failure as one JSON line;
* **metrics**: rounds, residuals, penalty, prices, call latencies, failures, retries.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message

from ptn.coordinator.outcome import NegotiationOutcome, NegotiationStatus, RoundRecord
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transports import CallFailedError, Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2

CHECKPOINT_VERSION = 1
#: statuses of a reply the mechanism may use; any other ends the negotiation
USABLE_STATUSES = (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT)


T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One request of a phase: to whom, which RPC, and the request (its header is filled in)."""

    operator_id: str
    method: str
    request: Message


#: a multi-phase exchange written as a generator: it yields the calls of a phase, is sent the
#: replies by operator id, and returns its result (see :class:`PhasedMechanism`)
Exchange = Generator[list[Call], dict[str, Message], T]


class NegotiationFailedError(Exception):
    """Ends a negotiation: an operator failed, refused, or missed its deadline."""


class OperatorRefusedError(NegotiationFailedError):
    """An operator answered with a status other than OK or INEXACT (``status``: the Status
    name, e.g. ``STATUS_INFEASIBLE``); a caller that can go on without the answer catches it."""

    def __init__(self, message: str, *, operator_id: str, method: str, status: str) -> None:
        super().__init__(message)
        self.operator_id = operator_id
        self.method = method
        self.status = status


@dataclass(frozen=True)
class DriverSettings:
    """How the driver talks and records."""

    max_rounds: int = 200
    call_timeout_s: float = 60.0
    retries: int = 2
    retry_backoff_s: float = 0.2
    checkpoint_path: Path | None = None
    transcript_path: Path | None = None
    #: fault injection for tests: exit the process right after checkpointing this round
    crash_after_round: int | None = None


class Mechanism(ABC):
    """A negotiation mechanism: fixed hooks the driver calls (initialize, requests, update,
    converged), plus its state for checkpoints and its record of a round."""

    name = "abstract"
    #: public station names, for the per-station metrics
    stations: tuple[str, ...] = ()

    @abstractmethod
    def initialize(self, driver: Driver) -> None:
        """Before round 1 (not on resume): set the starting point (may call operators)."""

    @abstractmethod
    def requests(self, round_number: int) -> list[Call]:
        """The calls of the round's next phase; an empty list ends the round."""

    @abstractmethod
    def update(self, round_number: int, replies: dict[str, Message]) -> None:
        """Take the phase's replies (by operator id)."""

    @abstractmethod
    def converged(self) -> bool:
        """Whether the stopping test holds after the last round."""

    @abstractmethod
    def record(self, round_number: int, seconds: float) -> RoundRecord:
        """The round as it will be reported (residuals, prices, loads)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to continue, as JSON-able values."""

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""


class PhasedMechanism(Mechanism):
    """A mechanism whose round is one generator (:meth:`round_exchange`) instead of the
    requests/update pair: phases that depend on earlier replies (a CNO's turn that asks for
    probes until it decides) read as straight-line code."""

    _exchange: Exchange[None] | None = None
    _pending: list[Call] | None = None

    @abstractmethod
    def round_exchange(self, round_number: int) -> Exchange[None]:
        """The round: yield each phase's calls, receive its replies."""

    def requests(self, round_number: int) -> list[Call]:
        if self._pending is None:
            self._exchange = self.round_exchange(round_number)
            self._pending = self._next(None)
        calls = self._pending
        if not calls:
            self._pending, self._exchange = None, None
        return calls

    def update(self, round_number: int, replies: dict[str, Message]) -> None:
        self._pending = self._next(replies)

    def _next(self, replies: dict[str, Message] | None) -> list[Call]:
        assert self._exchange is not None
        try:
            return next(self._exchange) if replies is None else self._exchange.send(replies)
        except StopIteration:
            return []


class Transcript:
    """Every message of a negotiation as JSON lines (appends; thread-safe)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        line = json.dumps(entry, allow_nan=True, separators=(",", ":"))
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def message_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON-able dict with the schema's field names."""
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


def write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically: a crash leaves the previous checkpoint or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(payload, handle, allow_nan=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`write_checkpoint` (errors name the file)."""
    try:
        payload: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInputError(f"cannot read checkpoint {path}: "
                                f"{(error.strerror or str(error)).lower()}") from error
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}:{error.lineno}: not a checkpoint ({error.msg})") \
            from error
    if payload.get("version") != CHECKPOINT_VERSION or "mechanism_state" not in payload:
        raise InvalidInputError(f"{path}: not a ptn checkpoint of version {CHECKPOINT_VERSION}")
    return payload


def record_to_json(record: RoundRecord) -> dict[str, Any]:
    data = asdict(record)
    data["price_per_mwh"] = np.asarray(record.price_per_mwh).tolist()
    data["load_mw"] = {k: np.asarray(v).tolist() for k, v in record.load_mw.items()}
    data["series"] = {k: np.asarray(v).tolist() for k, v in record.series.items()}
    return data


def record_from_json(data: dict[str, Any]) -> RoundRecord:
    values = dict(data)
    values["price_per_mwh"] = np.asarray(values["price_per_mwh"], dtype=np.float64)
    values["load_mw"] = {k: np.asarray(v, dtype=np.float64) for k, v in values["load_mw"].items()}
    values["series"] = {k: np.asarray(v, dtype=np.float64)
                        for k, v in values.get("series", {}).items()}
    return RoundRecord(**values)


@dataclass
class Driver:
    """Runs a mechanism against operators reached through endpoints."""

    endpoints: dict[str, Endpoint]
    settings: DriverSettings = field(default_factory=DriverSettings)
    metrics: CoordinatorMetrics | None = None
    negotiation_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    progress: Callable[[RoundRecord], None] | None = None
    #: stored in every checkpoint and given back on resume (e.g. an experiment's baseline)
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.metrics = self.metrics if self.metrics is not None else CoordinatorMetrics.create()
        self.transcript = Transcript(self.settings.transcript_path)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.endpoints)))

    # ------------------------------------------------------------------ calls
    def call(self, operator_id: str, method: str, request: Message,
             round_number: int = 0) -> Message:
        """One request with header, deadline, retries, transcript and metrics; the reply.

        Raises :class:`NegotiationFailedError` naming the operator when the reply does not
        arrive or reports a status other than OK or INEXACT.
        """
        endpoint = self.endpoints.get(operator_id)
        if endpoint is None:
            raise NegotiationFailedError(f"no endpoint for operator {operator_id!r}")
        header = request.header  # type: ignore[attr-defined]
        header.negotiation_id = self.negotiation_id
        header.round = round_number
        header.operator_id = operator_id
        header.request_id = uuid.uuid4().hex
        metrics = self.metrics
        assert metrics is not None
        role = endpoint.role
        base = {"negotiation_id": self.negotiation_id, "round": round_number,
                "operator_id": operator_id, "method": method, "request_id": header.request_id}
        self.transcript.write({**base, "direction": "request",
                               "message": message_dict(request)})
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            in_progress = metrics.calls_in_progress.labels(role)
            in_progress.inc()
            try:
                reply = endpoint.call(method, request, self.settings.call_timeout_s)
            except CallFailedError as error:
                metrics.call_failures.labels(role, method, error.reason).inc()
                self.transcript.write({**base, "direction": "failure", "attempt": attempt,
                                       "reason": error.reason, "detail": error.detail})
                if error.retryable and attempt < attempts:
                    metrics.call_retries.labels(role, method).inc()
                    time.sleep(self.settings.retry_backoff_s * attempt)
                    continue
                raise NegotiationFailedError(self._failure_text(endpoint, method, round_number,
                                                                error, attempt)) from error
            finally:
                in_progress.dec()
                elapsed = time.perf_counter() - started
                metrics.call_duration.labels(role, method).observe(elapsed)
            break
        self.transcript.write({**base, "direction": "reply", "attempt": attempt,
                               "round_trip_seconds": elapsed, "message": message_dict(reply)})
        status = reply.header.status  # type: ignore[attr-defined]
        if status not in USABLE_STATUSES:
            metrics.call_failures.labels(role, method, "refused").inc()
            name = common_pb2.Status.Name(status)
            detail = reply.header.message  # type: ignore[attr-defined]
            raise OperatorRefusedError(
                f"operator {endpoint.describe_location()} answered {method} in round "
                f"{round_number} with {name}: {detail}", operator_id=operator_id, method=method,
                status=name)
        return reply

    def _failure_text(self, endpoint: Endpoint, method: str, round_number: int,
                      error: CallFailedError, attempts: int) -> str:
        who = endpoint.describe_location()
        if error.reason == "deadline":
            return (f"operator {who} missed its {self.settings.call_timeout_s:g} s deadline "
                    f"for {method} in round {round_number} ({error.detail})")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return f"operator {who} could not be reached for {method} in round {round_number}" \
               f"{tries}: {error.reason}: {error.detail}"

    def call_phase(self, calls: list[Call], round_number: int) -> dict[str, Message]:
        """The calls of one phase, concurrently; replies by operator id."""
        if len(calls) == 1:
            only = calls[0]
            return {only.operator_id: self.call(only.operator_id, only.method, only.request,
                                                round_number)}
        futures = {c.operator_id: self._pool.submit(self.call, c.operator_id, c.method,
                                                     c.request, round_number) for c in calls}
        return {operator_id: future.result() for operator_id, future in futures.items()}

    def run_exchange(self, exchange: Exchange[T], round_number: int) -> T:
        """Drive an exchange to its end outside the round loop (e.g. a final certificate):
        each phase it yields is called, its replies sent back; returns its value."""
        try:
            calls = next(exchange)
            while True:
                calls = exchange.send(self.call_phase(calls, round_number))
        except StopIteration as finished:
            value: T = finished.value
            return value

    def describe_all(self) -> dict[str, common_pb2.OperatorInfo]:
        """Every operator's public description (round 0)."""
        infos = {}
        for operator_id in self.endpoints:
            reply = self.call(operator_id, "Describe", common_pb2.DescribeRequest())
            infos[operator_id] = reply.info  # type: ignore[attr-defined]
        return infos

    # ------------------------------------------------------------------ the loop
    def run(self, mechanism: Mechanism, *,
            checkpoint: dict[str, Any] | None = None) -> NegotiationOutcome:
        """Run ``mechanism`` to convergence, the round limit, or a failure (a status)."""
        started = time.perf_counter()
        metrics = self.metrics
        assert metrics is not None
        rounds: list[RoundRecord] = []
        first_round = 1
        status, message = NegotiationStatus.NOT_CONVERGED, ""
        try:
            if checkpoint is not None:
                if checkpoint["mechanism"] != mechanism.name:
                    raise InvalidInputError(f"checkpoint of mechanism {checkpoint['mechanism']}"
                                            f", not {mechanism.name}")
                mechanism.restore(checkpoint["mechanism_state"])
                rounds = [record_from_json(r) for r in checkpoint["rounds"]]
                first_round = int(checkpoint["round"]) + 1
            else:
                mechanism.initialize(self)
            if rounds and mechanism.converged():
                status = NegotiationStatus.CONVERGED
            for round_number in range(first_round, self.settings.max_rounds + 1):
                if status == NegotiationStatus.CONVERGED:
                    break
                round_started = time.perf_counter()
                while calls := mechanism.requests(round_number):
                    mechanism.update(round_number, self.call_phase(calls, round_number))
                record = mechanism.record(round_number, time.perf_counter() - round_started)
                rounds.append(record)
                self._observe(mechanism, record)
                self._checkpoint(mechanism, round_number, rounds)
                if self.progress is not None:
                    self.progress(record)
                if mechanism.converged():
                    status = NegotiationStatus.CONVERGED
                    metrics.converged.labels(mechanism.name).set(1)
                crash = self.settings.crash_after_round
                if crash is not None and round_number >= crash:
                    os._exit(75)  # fault injection: die like a killed process, checkpoint kept
            if status != NegotiationStatus.CONVERGED:
                message = f"not converged after {self.settings.max_rounds} rounds"
        except NegotiationFailedError as error:
            status, message = NegotiationStatus.FAILED, str(error)
        except InvalidInputError as error:  # a reply that does not fit the negotiation
            status, message = NegotiationStatus.FAILED, f"invalid reply: {error}"
        return NegotiationOutcome(
            negotiation_id=self.negotiation_id, mechanism=mechanism.name, status=status,
            message=message, stations=(), periods=0, period_hours=0.0, rounds=tuple(rounds),
            seconds=time.perf_counter() - started,
        )

    def _observe(self, mechanism_object: Mechanism, record: RoundRecord) -> None:
        metrics = self.metrics
        assert metrics is not None
        mechanism = mechanism_object.name
        price = np.asarray(record.price_per_mwh)
        loads = list(record.load_mw.values())
        for index, station in enumerate(mechanism_object.stations):
            if price.ndim == 2 and index < price.shape[0]:
                metrics.price.labels(mechanism, station).set(float(price[index].mean()))
            if loads and np.asarray(loads[0]).ndim == 2:
                metrics.load.labels(mechanism, station).set(float(np.asarray(loads[0])[index]
                                                                   .mean()))
        metrics.rounds.labels(mechanism).inc()
        metrics.round.labels(mechanism).set(record.round)
        metrics.primal_residual.labels(mechanism).set(record.primal_residual)
        metrics.dual_residual.labels(mechanism).set(record.dual_residual)
        metrics.penalty.labels(mechanism).set(record.penalty_per_mw2h)

    def _checkpoint(self, mechanism: Mechanism, round_number: int,
                    rounds: list[RoundRecord]) -> None:
        path = self.settings.checkpoint_path
        if path is None:
            return
        write_checkpoint(path, {
            "version": CHECKPOINT_VERSION,
            "negotiation_id": self.negotiation_id,
            "mechanism": mechanism.name,
            "round": round_number,
            "mechanism_state": mechanism.state(),
            "rounds": [record_to_json(r) for r in rounds],
            "context": self.context,
        })

    def close(self, *, endpoints: bool = True) -> None:
        """Stop the call pool and (unless ``endpoints`` is false: another negotiation follows
        on them) close the endpoints."""
        self._pool.shutdown(wait=False)
        if endpoints:
            for endpoint in self.endpoints.values():
                endpoint.close()
