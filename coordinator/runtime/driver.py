"""The one driver loop every mechanism runs on: rounds, messages, deadlines, retries, records.

Why this module exists: a mechanism (:mod:`ptn.coordinator.runtime.mechanism`) says what to ask
and how to update; the driver owns everything else, once:

* **rounds and phases**: a driver round is one generator of the mechanism; the calls of each
  phase it yields run concurrently and their replies are sent back;
* **messaging**: every request gets its header: the negotiation id (``<id>/<scope>`` for a part
  of the run with its own state at the operators), the round, the operator id and a request id
  that is a function of (negotiation, driver round, position of the call in the round), so the
  same call has the same id whether it is retried after a lost reply or sent again by a
  coordinator resumed from its checkpoint: an operator that received it answers from its first
  reply instead of applying it twice;
* **deadlines, retries and waiting**: each call has a deadline, the scenario's
  ``[coordinator] call_timeout_s`` or, unset, one that fits the operators
  (:mod:`ptn.coordinator.runtime.deadlines`: generous for an operator's first call of an RPC,
  then derived from the calls seen). An operator that cannot be
  reached (``unavailable``: crashed, restarting, redeployed) or sheds load (``overloaded``) is
  waited for, with exponential backoff and jitter, up to ``operator_wait_s`` (the scenario's
  ``[coordinator] operator_wait_s``), and the same request (same id) is sent again when it is
  back: a restarted operator restores its state from its state file and answers a request it
  had already applied from the reply it saved with it. A missed deadline is retried
  ``retries`` times (the operator answers the retry from the first computation). A refusal, or
  waiting beyond the window, ends the negotiation with one message naming the operator, its
  address and the setting that governs it;
* **the end**: a negotiation that concluded tells every operator so (``EndNegotiation``), which
  frees it for the next one; a failed negotiation leaves the operators bound to it, so it can
  still be resumed from its checkpoint (they free themselves when idle);
* **checkpoints**: after every driver round (:mod:`ptn.coordinator.runtime.checkpoint`);
  :meth:`Driver.run` resumes from one;
* **transcript** (:mod:`ptn.coordinator.runtime.transcript`) and **metrics** (rounds, each
  mechanism's declared round gauges, prices and loads per station, call latencies, failures,
  retries).

Fault injection for tests: ``DriverSettings.crash_after_round = k`` exits the process with code
75 right after checkpointing the k-th driver round (as ``kill -9`` would, at a known point).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import Message

from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.runtime.checkpoint import Checkpoint, CheckpointWriter
from ptn.coordinator.runtime.deadlines import DeadlinePolicy, suggested_timeout_s
from ptn.coordinator.runtime.mechanism import Call, Exchange, Mechanism, RunSummary
from ptn.coordinator.runtime.metrics import CoordinatorMetrics
from ptn.coordinator.runtime.transcript import Transcript, message_dict
from ptn.coordinator.runtime.transports import CallFailedError, Endpoint
from ptn.engines.errors import InvalidInputError
from ptn.protocol.v1 import common_pb2

#: statuses of a reply the mechanism may use; any other ends the negotiation
USABLE_STATUSES = (common_pb2.STATUS_OK, common_pb2.STATUS_INEXACT)
#: the exit code of an injected crash (EX_TEMPFAIL: try again, e.g. with --resume)
CRASH_EXIT_CODE = 75
#: transport troubles after which the same request is sent again once the operator is back
WAITED_FOR = ("unavailable", "overloaded")
#: the longest pause between two attempts while waiting for an operator (s)
MAX_BACKOFF_S = 5.0
#: the deadline of the closing ``EndNegotiation`` calls (s; best effort, never retried)
END_TIMEOUT_S = 10.0
#: the longest reply message kept as a warning (characters; longer ones are cut)
MAX_WARNING_CHARS = 2000

LOG = logging.getLogger("ptn.coordinator")

T = TypeVar("T")
OutcomeT = TypeVar("OutcomeT")


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

    #: every call's deadline (s), or None: the automatic one of
    #: :class:`~ptn.coordinator.runtime.deadlines.DeadlinePolicy`
    call_timeout_s: float | None = None
    #: retries of a call whose deadline passed
    retries: int = 2
    #: the first pause before sending again to an unreachable operator, doubled each time
    retry_backoff_s: float = 0.2
    #: how long an unreachable (or overloaded) operator is waited for (s)
    operator_wait_s: float = 300.0
    checkpoint_path: Path | None = None
    transcript_path: Path | None = None
    #: fault injection for tests: exit the process right after checkpointing this driver round
    crash_after_round: int | None = None


@dataclass
class Driver:
    """Runs a mechanism against operators reached through endpoints."""

    endpoints: dict[str, Endpoint]
    settings: DriverSettings = field(default_factory=DriverSettings)
    metrics: CoordinatorMetrics | None = None
    negotiation_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    progress: Callable[[RoundRecord], None] | None = None
    #: the scenario the negotiation belongs to, written into every checkpoint
    scenario_name: str = ""
    scenario_fingerprint: str = ""

    def __post_init__(self) -> None:
        self.metrics = self.metrics if self.metrics is not None else CoordinatorMetrics.create()
        self.transcript = Transcript(self.settings.transcript_path)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.endpoints)))
        self._sequence_lock = threading.Lock()
        self._sequence: dict[int, int] = {}
        self.deadlines = DeadlinePolicy(self.settings.call_timeout_s)
        #: (operator id, RPC) -> [usable replies with a message, the last message]
        self._notes: dict[tuple[str, str], tuple[int, str]] = {}
        self._notes_lock = threading.Lock()

    def warnings(self) -> tuple[str, ...]:
        """What operators said beside their usable replies, one line per operator and RPC
        (``traffic RespondToPrices: charging capacity binds: ...``; with a count and the
        last message when several replies said something)."""
        with self._notes_lock:
            notes = list(self._notes.items())
        return tuple(f"{operator_id} {method}"
                     + (f" ({count} replies; the last)" if count > 1 else "") + f": {text}"
                     for (operator_id, method), (count, text) in notes)

    # ------------------------------------------------------------------ calls
    def request_id(self, round_number: int) -> str:
        """The next request id of a driver round: ``<negotiation>:<round>:<position>``."""
        with self._sequence_lock:
            position = self._sequence.get(round_number, 0)
            self._sequence[round_number] = position + 1
        return f"{self.negotiation_id}:{round_number}:{position}"

    def call(self, operator_id: str, method: str, request: Message, round_number: int = 0, *,
             scope: str = "", request_id: str | None = None) -> Message:
        """One request with header, deadline, retries, transcript and metrics; the reply.

        Raises :class:`NegotiationFailedError` naming the operator when the reply does not
        arrive or reports a status other than OK or INEXACT.
        """
        endpoint = self.endpoints.get(operator_id)
        if endpoint is None:
            raise NegotiationFailedError(f"no endpoint for operator {operator_id!r}")
        header = request.header  # type: ignore[attr-defined]
        header.negotiation_id = f"{self.negotiation_id}/{scope}" if scope else \
            self.negotiation_id
        header.round = round_number
        header.operator_id = operator_id
        header.request_id = request_id or self.request_id(round_number)
        metrics = self.metrics
        assert metrics is not None
        role = endpoint.role
        base = {"negotiation_id": header.negotiation_id, "round": round_number,
                "operator_id": operator_id, "method": method, "request_id": header.request_id}
        self.transcript.write({**base, "direction": "request",
                               "message": message_dict(request)})
        waiting = _Waiting(self.settings)
        attempt = 0
        missed_s = 0.0  # time spent in attempts that missed their deadline
        timeout_s = self.deadlines.timeout_s(operator_id, method)
        while True:
            attempt += 1
            started = time.perf_counter()
            in_progress = metrics.calls_in_progress.labels(role)
            in_progress.inc()
            try:
                reply = endpoint.call(method, request, timeout_s)
            except CallFailedError as error:
                metrics.call_failures.labels(role, method, error.reason).inc()
                self.transcript.write({**base, "direction": "failure", "attempt": attempt,
                                       "reason": error.reason, "detail": error.detail})
                if error.reason == "deadline":
                    missed_s += time.perf_counter() - started
                pause = waiting.pause_after(error)
                if pause is None:
                    raise NegotiationFailedError(self._failure_text(
                        endpoint, method, round_number, error,
                        _Attempts(attempt, timeout_s, missed_s), waiting)) from error
                if waiting.announce:
                    LOG.warning("operator %s is %s (%s in round %d); waiting up to %g s for "
                                "it ([coordinator] operator_wait_s)",
                                endpoint.describe_location(), error.reason, method,
                                round_number, self.settings.operator_wait_s)
                metrics.call_retries.labels(role, method).inc()
                time.sleep(pause)
                continue
            finally:
                in_progress.dec()
                elapsed = time.perf_counter() - started
                metrics.call_duration.labels(role, method).observe(elapsed)
            break
        if waiting.since is not None:
            LOG.warning("operator %s is back after %.1f s (%s in round %d)",
                        endpoint.describe_location(), time.monotonic() - waiting.since, method,
                        round_number)
        self.transcript.write({**base, "direction": "reply", "attempt": attempt,
                               "round_trip_seconds": elapsed, "message": message_dict(reply)})
        # the operator computed through the attempts that missed their deadline
        self.deadlines.observe(operator_id, method, missed_s + elapsed)
        status = reply.header.status  # type: ignore[attr-defined]
        detail = reply.header.message  # type: ignore[attr-defined]
        if status not in USABLE_STATUSES:
            metrics.call_failures.labels(role, method, "refused").inc()
            name = common_pb2.Status.Name(status)
            raise OperatorRefusedError(
                f"operator {endpoint.describe_location()} answered {method} in round "
                f"{round_number} with {name}: {detail}", operator_id=operator_id, method=method,
                status=name)
        if detail:  # kept, but no longer than a warning needs (a reply is untrusted)
            text = str(detail)
            if len(text) > MAX_WARNING_CHARS:
                text = text[:MAX_WARNING_CHARS] + f" ... ({len(text):,} characters)"
            with self._notes_lock:
                count, _ = self._notes.get((operator_id, method), (0, ""))
                self._notes[(operator_id, method)] = (count + 1, text)
        return reply

    def _failure_text(self, endpoint: Endpoint, method: str, round_number: int,
                      error: CallFailedError, attempts: _Attempts, waiting: _Waiting) -> str:
        who = endpoint.describe_location()
        if error.reason == "deadline":
            tries = f"{attempts.count} attempts, " if attempts.count > 1 else ""
            policy = "" if not self.deadlines.automatic else \
                " (the automatic deadline: unset [coordinator] call_timeout_s)"
            slowest = self.deadlines.slowest_s(endpoint.operator_id, method)
            seen = "" if slowest is None else f"; its slowest answered {method} took " \
                                              f"{slowest:.3g} s"
            answered = error.answered_after_s
            suggestion = suggested_timeout_s(answered, attempts.missed_s)
            need = f"it answered after {answered:.3g} s" if answered is not None else \
                f"it had not answered after {attempts.missed_s:.3g} s ({error.detail})"
            return (f"operator {who} missed its {attempts.timeout_s:g} s deadline{policy} for "
                    f"{method} in round {round_number} ({tries}{attempts.missed_s:.3g} s "
                    f"waited{seen}); {need}: set [coordinator] call_timeout_s = "
                    f"{suggestion:g} (or more) in the scenario")
        if error.reason in WAITED_FOR:
            return (f"operator {who} could not be reached for {method} in round "
                    f"{round_number}: {error.reason} for {waiting.waited_s():.0f} s "
                    f"([coordinator] operator_wait_s = {self.settings.operator_wait_s:g}): "
                    f"{error.detail}")
        return f"operator {who} refused {method} in round {round_number}: {error.reason}: " \
               f"{error.detail}"

    def call_phase(self, calls: list[Call], round_number: int) -> dict[str, Message]:
        """The calls of one phase, concurrently; replies by operator id."""
        identified = [(c, self.request_id(round_number)) for c in calls]  # in call order
        if len(identified) == 1:
            only, request_id = identified[0]
            return {only.operator_id: self.call(only.operator_id, only.method, only.request,
                                                round_number, scope=only.scope,
                                                request_id=request_id)}
        futures = {c.operator_id: self._pool.submit(self.call, c.operator_id, c.method,
                                                     c.request, round_number, scope=c.scope,
                                                     request_id=request_id)
                   for c, request_id in identified}
        return {operator_id: future.result() for operator_id, future in futures.items()}

    def run_exchange(self, exchange: Exchange[T], round_number: int) -> T:
        """Drive an exchange to its end: each phase it yields is called, its replies sent back;
        returns its value."""
        try:
            calls = next(exchange)
            while True:
                calls = exchange.send(self.call_phase(calls, round_number))
        except StopIteration as finished:
            value: T = finished.value
            return value

    def describe_all(self, operator_ids: list[str] | None = None
                     ) -> dict[str, common_pb2.OperatorInfo]:
        """The public description of every operator (or of ``operator_ids``), in round 0."""
        infos = {}
        for operator_id in operator_ids if operator_ids is not None else self.endpoints:
            reply = self.call(operator_id, "Describe", common_pb2.DescribeRequest())
            infos[operator_id] = reply.info  # type: ignore[attr-defined]
        return infos

    # ------------------------------------------------------------------ the loop
    def run(self, mechanism: Mechanism[OutcomeT], *,
            checkpoint: Checkpoint | None = None) -> OutcomeT:
        """Run ``mechanism`` until it is finished or fails, resuming from ``checkpoint``."""
        started = time.perf_counter()
        rounds: list[RoundRecord] = []
        driver_round = 0
        try:
            if checkpoint is not None:
                mechanism.restore(checkpoint.mechanism_state)
                rounds = list(checkpoint.rounds)
                driver_round = checkpoint.round
            else:
                mechanism.begin(self)
            path = self.settings.checkpoint_path
            writer = CheckpointWriter(path, len(rounds)) if path is not None else None
            while not mechanism.finished():
                driver_round += 1
                round_started = time.perf_counter()
                record = self.run_exchange(mechanism.round_exchange(driver_round),
                                           driver_round)
                if record is not None:
                    record = replace(record, seconds=time.perf_counter() - round_started)
                    rounds.append(record)
                    self._observe(mechanism, record)
                if writer is not None:
                    writer.write(self._checkpoint(mechanism, driver_round),
                                 [] if record is None else [record])
                if record is not None and self.progress is not None:
                    self.progress(record)
                crash = self.settings.crash_after_round
                if crash is not None and driver_round >= crash:
                    os._exit(CRASH_EXIT_CODE)  # fault injection: die like a killed process
            outcome = mechanism.conclude(self, RunSummary(
                self.negotiation_id, tuple(rounds), started, driver_round + 1,
                warnings=self.warnings()))
            self.end_negotiation()
        except (NegotiationFailedError, InvalidInputError) as error:
            # an InvalidInputError here is a reply that does not fit the negotiation
            failure = str(error) if isinstance(error, NegotiationFailedError) \
                else f"invalid reply: {error}"
            return mechanism.failed(RunSummary(self.negotiation_id, tuple(rounds), started,
                                               driver_round + 1, failure,
                                               warnings=self.warnings()))
        metrics = self.metrics
        assert metrics is not None
        metrics.converged.labels(mechanism.name).set(
            1.0 if getattr(outcome, "converged", False) else 0.0)
        return outcome

    def end_negotiation(self) -> None:
        """Tell every operator that the negotiation is over (best effort: an operator that does
        not hear it frees itself once idle)."""
        for operator_id, endpoint in self.endpoints.items():
            if "EndNegotiation" not in endpoint.methods:
                continue
            request = common_pb2.EndNegotiationRequest()
            header = request.header
            header.negotiation_id = self.negotiation_id
            header.operator_id = operator_id
            header.request_id = f"{self.negotiation_id}:end"
            try:
                endpoint.call("EndNegotiation", request, END_TIMEOUT_S)
            except CallFailedError as error:
                LOG.info("operator %s did not hear the end of negotiation %s: %s",
                         endpoint.describe_location(), self.negotiation_id, error)

    def _observe(self, mechanism: Mechanism[Any], record: RoundRecord) -> None:
        metrics = self.metrics
        assert metrics is not None
        name = mechanism.name
        price = np.asarray(record.price_per_mwh)
        loads = [np.asarray(load) for load in record.load_mw.values()]
        for index, station in enumerate(mechanism.stations):
            if price.ndim == 2 and index < price.shape[0]:
                metrics.price.labels(name, station).set(float(price[index].mean()))
            if loads and loads[0].ndim == 2 and index < loads[0].shape[0]:
                metrics.load.labels(name, station).set(float(loads[0][index].mean()))
        metrics.rounds.labels(name).inc()
        metrics.round.labels(name).set(record.round)
        for gauge in mechanism.round_gauges:
            if gauge.field in record.values:
                metrics.round_gauge(gauge).labels(name).set(record.values[gauge.field])

    def _checkpoint(self, mechanism: Mechanism[Any], driver_round: int) -> Checkpoint:
        return Checkpoint(
            negotiation_id=self.negotiation_id, mechanism=mechanism.name,
            scenario=self.scenario_name, scenario_fingerprint=self.scenario_fingerprint,
            round=driver_round, mechanism_state=mechanism.state(), rounds=())

    def close(self, *, endpoints: bool = True) -> None:
        """Stop the call pool and (unless ``endpoints`` is false: another negotiation follows
        on them) close the endpoints."""
        self._pool.shutdown(wait=False)
        if endpoints:
            for endpoint in self.endpoints.values():
                endpoint.close()


@dataclass(frozen=True)
class _Attempts:
    """A call's attempts when it gave up: how many, their deadline, the time spent in those
    that missed it."""

    count: int
    timeout_s: float
    missed_s: float


class _Waiting:
    """The retry policy of one call: wait for an unreachable or overloaded operator with
    exponential backoff and jitter up to the window, retry a missed deadline ``retries``
    times, and give up at once on anything else."""

    def __init__(self, settings: DriverSettings) -> None:
        self.settings = settings
        self.since: float | None = None
        self.announce = False
        self.pauses = 0
        self.deadline_misses = 0

    def waited_s(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since

    def pause_after(self, error: CallFailedError) -> float | None:
        """Seconds to pause before sending again, or None to give up."""
        self.announce = False
        if error.reason == "deadline":
            self.deadline_misses += 1
            return 0.0 if self.deadline_misses <= self.settings.retries else None
        if error.reason not in WAITED_FOR:
            return None
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.announce = True
        pause = min(self.settings.retry_backoff_s * 2.0 ** self.pauses, MAX_BACKOFF_S)
        pause *= random.uniform(0.5, 1.5)  # jitter: operators back at once are not stampeded
        self.pauses += 1
        remaining = self.since + self.settings.operator_wait_s - now
        if remaining <= 0:
            return None
        return min(pause, remaining)
