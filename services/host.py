"""Hosting an operator's model behind its service: decoding, idempotency, metrics, failures, state.

Why this module exists: every transport (in-process, Ray actor, gRPC servicer) must treat a
request the same way, so the adapters only move bytes and this host does the rest; it is the
only place where an operator's requests and replies are protobuf:

* decode the request as the method's input message of the role's service (the schema is the
  boundary even in-process), and answer it through the role's typed binding
  (:mod:`ptn.services.bindings`), which validates it (finite, physically bounded numbers, known
  stations and periods, sizes) and turns it into domain values for the model's Protocol and
  its result back into the reply; methods the binding lacks are not offered (UNIMPLEMENTED);
  ``EndNegotiation`` is answered here, for every role;
* refuse requests addressed to another operator or without a request id (in-band,
  ``STATUS_INVALID_REQUEST``), and request or negotiation ids longer than
  :data:`MAX_ID_CHARS` (:class:`~ptn.services.refusal.RequestRefusedError`
  ``INVALID_ARGUMENT``: they are not worth a reply, nor a place in the reply cache);
* answer a repeated ``(method, request id)`` with the first reply, never applying it twice (a
  coordinator retries calls that may not have arrived with the same id; a retry that arrives
  while the first is still being computed waits for it); the same id with other content is
  refused ``ALREADY_EXISTS`` (:mod:`ptn.services.replies`);
* serve one negotiation at a time (:mod:`ptn.services.session`): the first accepted request's
  negotiation base binds the operator, other negotiations and rounds that go backwards are
  refused ``FAILED_PRECONDITION`` without waiting for the model; opening a negotiation
  restores the model's fresh state (the snapshot taken when the host was built: warm starts,
  histories and turns of earlier traffic are gone, so a negotiation gets exactly a fresh
  server's numbers), or the saved state of the same negotiation; ``EndNegotiation`` releases
  the binding, writes the fresh state to the state file and has the next negotiation (of any
  base) open on the fresh state;
* run one request at a time through the model (models are not thread-safe);
* build every reply's header once (request id, operator id, status, message and the seconds
  the call took, timed once here);
* turn invalid input into a ``STATUS_INVALID_REQUEST`` reply naming the problem, and any other
  exception into ``STATUS_FAILED`` with its type and message (logged, never a crash);
* count and time everything in :class:`~ptn.services.metrics.OperatorMetrics`;
* given a state directory, keep the model's state there for resuming
  (:mod:`ptn.services.state`: saved after every request that changed it, together with the
  replies of the latest state-changing requests and the rounds served, restored before the
  first request of the same negotiation; the saved replies answer retries after a restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError, Message

from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import reply_header
from ptn.protocol.schema import (
    MethodSpec,
    UnknownMethodError,
    service_methods,
    service_name,
)
from ptn.protocol.v1 import common_pb2
from ptn.services.bindings.base import WIRE_STATUS, Binding, Rpc
from ptn.services.contract import Operator
from ptn.services.metrics import OperatorMetrics
from ptn.services.refusal import RequestRefusedError
from ptn.services.replies import REPLY_CACHE_BYTES, REPLY_CACHE_SIZE, ReplyCache, request_digest
from ptn.services.session import DEFAULT_SESSION_IDLE_S, NegotiationSession
from ptn.services.state import SavedReply, SavedState, StateStore, negotiation_base

LOG = logging.getLogger("ptn.operator")

#: the longest request id or negotiation id accepted (the coordinator's are ~30 characters)
MAX_ID_CHARS = 200
#: the method every host answers itself, whatever its role's binding
END_NEGOTIATION = "EndNegotiation"
#: replies of state-changing requests saved with the state, at most (count, bytes): a
#: coordinator has one call per operator in flight, so the latest few cover its retries
SAVED_REPLIES = 32
SAVED_REPLY_BYTES = 4 * 1024 * 1024

#: what a host needs of a model (the base Protocol of every role's)
OperatorModel = Operator

__all__ = ["END_NEGOTIATION", "MAX_ID_CHARS", "REPLY_CACHE_BYTES", "REPLY_CACHE_SIZE",
           "OperatorHost", "OperatorModel", "service_methods"]


class OperatorHost:
    """One operator's model behind its role's service, speaking serialized protobuf.

    ``binding``: the role's (default: the registry's, :mod:`ptn.services.hosting`).
    ``state_dir``: where to keep the model's state for resuming (None: nowhere).
    ``session_idle_s``: seconds without a request after which the negotiation the host is
    bound to may be replaced by another (:mod:`ptn.services.session`).
    """

    def __init__(self, model: Operator, metrics: OperatorMetrics | None = None, *,
                 binding: Binding[Any] | None = None, state_dir: Path | None = None,
                 session_idle_s: float = DEFAULT_SESSION_IDLE_S) -> None:
        self.model = model
        self.role = model.role
        self.operator_id = model.operator_id
        self.metrics = metrics if metrics is not None else OperatorMetrics.create()
        self.methods = service_methods(self.role)
        if binding is None:
            # imported here: the registry builds hosts, so it imports this module
            from ptn.services.hosting import role_entry

            binding = role_entry(self.role).binding
        if binding.role != self.role:
            raise InvalidInputError(f"a {binding.role} binding cannot host a {self.role} model")
        self.binding = binding
        self._model_lock = threading.Lock()
        self._replies = ReplyCache()
        #: the model's state when the host was built: what opening a negotiation restores
        self._fresh = model.snapshot()
        #: the negotiation base whose state the model holds (None: its fresh state)
        self._model_base: str | None = None
        #: the latest state-changing replies, saved with the state
        self._recent: deque[SavedReply] = deque()
        self._store = None if state_dir is None \
            else StateStore(state_dir, self.role, self.operator_id)
        self._saved: SavedState | None = None
        if self._store is not None:
            self._saved = self._store.load()
            if self._saved is None:
                self._store.mark_saved(self._fresh)
        rounds = {} if self._saved is None else self._saved.rounds
        self.session = NegotiationSession(session_idle_s, rounds=rounds)
        #: the saved replies, put in the reply cache by the first request of their
        #: negotiation (another negotiation's requests may reuse their ids)
        self._unseeded = None if self._saved is None or not self._saved.replies \
            else (negotiation_base(self._saved.negotiation_id), self._saved.replies)
        self._seed_lock = threading.Lock()

    @property
    def service(self) -> str:
        return service_name(self.role)

    def close(self) -> None:
        """Release what the model holds beyond the process (e.g. the traffic department's
        private probe workers), for a model that has a ``close``; idempotent."""
        close = getattr(self.model, "close", None)
        if callable(close):
            close()

    @property
    def cached_replies(self) -> tuple[int, int]:
        """(entries, bytes) of the reply cache (for metrics and tests)."""
        return len(self._replies), self._replies.size_bytes

    def offers(self, method: str) -> bool:
        """Whether the host answers a method of the service (others are UNIMPLEMENTED)."""
        return method in self.methods and (method == END_NEGOTIATION
                                           or self.binding.rpc(method) is not None)

    def handle(self, method: str, request: bytes) -> bytes:
        """Answer one serialized request with a serialized reply (never raises for bad input;
        raises :class:`RequestRefusedError` for requests it will not serve at all)."""
        spec = self.methods.get(method)
        if spec is None or not self.offers(method):
            raise UnknownMethodError(f"{self.service} of {self.operator_id} does not offer "
                                     f"{method}")
        try:
            message = spec.input_type.FromString(request)
        except DecodeError as error:
            return self._refusal(spec, "", f"undecodable {spec.input_type.__name__}: {error}")
        header = getattr(message, "header", None)
        request_id = header.request_id if header is not None else ""
        if header is None or not request_id:
            return self._refusal(spec, "", "the request has no header.request_id")
        for name, value in (("request_id", request_id),
                            ("negotiation_id", header.negotiation_id)):
            if len(value) > MAX_ID_CHARS:
                self._count_refusal(spec, "INVALID_ARGUMENT")
                raise RequestRefusedError("INVALID_ARGUMENT", f"header.{name} has {len(value)} "
                                          f"characters, at most {MAX_ID_CHARS} are accepted")
        if header.operator_id != self.operator_id:
            return self._refusal(spec, request_id, f"request addressed to "
                                 f"{header.operator_id!r}, this is {self.operator_id!r}")
        digest = request_digest(request)
        self._seed_saved_replies(header.negotiation_id)
        try:
            cached = self._replies.lookup(method, request_id, digest)
            if cached is not None:  # a retry: answered from the first reply
                self.metrics.duplicates.labels(self.role, method).inc()
                return cached.wait()
            rpc = self.binding.rpc(method)
            changes_state = rpc is None or rpc.changes_state
            if rpc is None:
                self.session.check_end(header.negotiation_id)
            base = self.session.admit(header.negotiation_id, header.round, changes_state) \
                if rpc is not None else None
        except RequestRefusedError as refusal:
            self._count_refusal(spec, refusal.code)
            raise
        try:
            claim = self._replies.claim(method, request_id, digest)
            if not claim.first:
                self.metrics.duplicates.labels(self.role, method).inc()
                return claim.entry.wait()
            try:
                reply = self._apply(spec, rpc, message, header, base, digest)
            except RequestRefusedError as refusal:
                self._replies.refuse(method, request_id, claim.entry, refusal)
                self._count_refusal(spec, refusal.code)
                raise
            except BaseException as error:
                self._replies.refuse(method, request_id, claim.entry, RequestRefusedError(
                    "FAILED_PRECONDITION", f"the first request with this id failed: {error}"))
                raise
            self._replies.complete(method, request_id, claim.entry, reply)
            return reply
        finally:
            if base is not None:
                self.session.finish()

    def _seed_saved_replies(self, negotiation_id: str) -> None:
        """Before the first request of the saved negotiation: its saved replies answer its
        retries (they are dropped when another negotiation opens)."""
        with self._seed_lock:
            if self._unseeded is None or self._unseeded[0] != negotiation_base(negotiation_id):
                return
            replies, self._unseeded = self._unseeded[1], None
        for saved in replies:
            self._replies.seed(saved.method, saved.request_id, saved.digest, saved.reply)

    def _apply(self, spec: MethodSpec, rpc: Rpc[Any, Any] | None, message: Any,
               header: common_pb2.RequestHeader, base: str | None, digest: bytes) -> bytes:
        in_progress = self.metrics.in_progress.labels(self.role)
        started = time.perf_counter()
        in_progress.inc()
        try:
            with self._model_lock:
                reply, status, text = self._answer(spec, rpc, message, header, base)
                seconds = time.perf_counter() - started
                reply.header.CopyFrom(reply_header(header, self.operator_id, status, text,  # type: ignore[attr-defined]
                                                   seconds))
                data: bytes = reply.SerializeToString()
                if rpc is not None and rpc.changes_state:
                    self._keep_state(header, spec.name, digest, data)
        finally:
            in_progress.dec()
        LOG.info("%s %s round %d request %s: %s in %.1f ms", self.operator_id, spec.name,
                 header.round, header.request_id, common_pb2.Status.Name(status),
                 seconds * 1000)
        self.metrics.duration.labels(self.role, spec.name).observe(seconds)
        self.metrics.observe_privacy(self.operator_id, reply)
        self.metrics.requests.labels(self.role, spec.name,
                                     common_pb2.Status.Name(status)).inc()
        return data

    def _answer(self, spec: MethodSpec, rpc: Rpc[Any, Any] | None, message: Any,
                header: common_pb2.RequestHeader, base: str | None
                ) -> tuple[Message, common_pb2.Status, str]:
        """Under the model lock: the reply without its header, its status and message."""
        if rpc is None:  # EndNegotiation
            self.session.end(header.negotiation_id)
            self._reset()
            return spec.output_type(), common_pb2.STATUS_OK, ""
        assert base is not None
        if not self.session.serves(base):  # its negotiation ended while it waited
            raise RequestRefusedError("FAILED_PRECONDITION", f"negotiation "
                                      f"{header.negotiation_id!r} ended before this request "
                                      "was served")
        try:
            self._open(base)
            answer = rpc.answer(self.model, message)
            reply = answer.reply
            if not isinstance(reply, spec.output_type):
                raise TypeError(f"the binding answered {spec.name} with a "
                                f"{type(reply).__name__}, not a {spec.output_type.__name__}")
            return reply, WIRE_STATUS[answer.result.status], answer.result.message
        except InvalidInputError as error:
            return spec.output_type(), common_pb2.STATUS_INVALID_REQUEST, str(error)
        except Exception as error:  # failure is data: the coordinator reports it
            LOG.exception("%s %s failed", self.operator_id, spec.name)
            self.metrics.failures.labels(self.role, spec.name).inc()
            return spec.output_type(), common_pb2.STATUS_FAILED, \
                f"{type(error).__name__}: {error}"

    def _open(self, base: str) -> None:
        """Before a request of negotiation ``base``: if the model holds another one's state,
        restore the saved state of ``base`` (once, after a restart) or the fresh state."""
        if self._model_base == base:
            return
        saved, self._saved = self._saved, None
        self._model_base = base
        self._recent.clear()
        with self._seed_lock:
            self._unseeded = None
        if saved is not None and negotiation_base(saved.negotiation_id) == base:
            self._recent.extend(saved.replies)
            assert self._store is not None
            try:
                self.model.restore(saved.model)
            except InvalidInputError as error:
                self._restore_fresh()
                raise RuntimeError(f"cannot restore the operator's state from "
                                   f"{self._store.path}: {error}") from error
            LOG.info("%s restored its state of negotiation %s from %s", self.operator_id,
                     saved.negotiation_id, self._store.path)
            return
        self._restore_fresh()

    def _restore_fresh(self) -> None:
        self.model.restore(self._fresh)

    def _reset(self) -> None:
        """``EndNegotiation``: forget the negotiation. The state file gets the fresh state at
        once; the model returns to it before the next negotiation's first request (whatever
        its base: an ended negotiation is not resumed), and keeps its last state until then,
        which no request can read (in-process, a run's caller may still inspect it, e.g. the
        TNO's books after profit sharing)."""
        self._saved = None
        self._model_base = None
        with self._seed_lock:
            self._unseeded = None
        self._recent.clear()
        if self._store is not None:
            try:
                self._store.clear(self._fresh)
            except (OSError, TypeError, ValueError):
                LOG.exception("%s could not clear its state in %s", self.operator_id,
                              self._store.path)

    def _keep_state(self, header: common_pb2.RequestHeader, method: str, digest: bytes,
                    reply: bytes) -> None:
        """Save the model's state with the reply and the rounds if the request changed them
        (a failed write is logged: the negotiation goes on, only its resumption would start
        from an older state)."""
        if self._store is None:
            return
        self._recent.append(SavedReply(method, header.request_id, digest, reply))
        while len(self._recent) > SAVED_REPLIES or (
                len(self._recent) > 1
                and sum(len(r.reply) for r in self._recent) > SAVED_REPLY_BYTES):
            self._recent.popleft()
        try:
            self._store.save(header.negotiation_id, self.model.snapshot(), tuple(self._recent),
                             self.session.rounds())
        except (OSError, TypeError, ValueError):
            LOG.exception("%s could not save its state to %s", self.operator_id,
                          self._store.path)

    def _count_refusal(self, spec: MethodSpec, code: str) -> None:
        self.metrics.requests.labels(self.role, spec.name, code).inc()

    def _refusal(self, spec: MethodSpec, request_id: str, message: str) -> bytes:
        self.metrics.requests.labels(self.role, spec.name, "STATUS_INVALID_REQUEST").inc()
        reply = _failure_reply(spec, request_id, self.operator_id,
                               common_pb2.STATUS_INVALID_REQUEST, message)
        data: bytes = reply.SerializeToString()
        return data


def _failure_reply(spec: MethodSpec, request_id: str, operator_id: str,
                   status: common_pb2.Status, message: str) -> Message:
    reply = spec.output_type()
    reply.header.CopyFrom(reply_header(  # type: ignore[attr-defined]
        common_pb2.RequestHeader(request_id=request_id), operator_id, status, message))
    return reply
