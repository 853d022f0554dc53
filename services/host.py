"""Hosting an operator's model behind its service: decoding, idempotency, metrics, failures, state.

Why this module exists: every transport (in-process, Ray actor, gRPC servicer) must treat a
request the same way, so the adapters only move bytes and this host does the rest; it is the
only place where an operator's requests and replies are protobuf:

* decode the request as the method's input message of the role's service (the schema is the
  boundary even in-process), and answer it through the role's typed binding
  (:mod:`ptn.services.bindings`), which turns it into domain values for the model's Protocol and
  its result back into the reply; methods the binding lacks are not offered (UNIMPLEMENTED);
* refuse requests addressed to another operator or without a request id;
* answer a repeated request id with the first reply, never applying it twice (a coordinator
  retries calls that may not have arrived with the same id; a retry that arrives while the
  first is still being computed waits for it);
* run one request at a time through the model (models are not thread-safe);
* build every reply's header once (request id, operator id, status, message and the seconds
  the call took, timed once here);
* turn invalid input into a ``STATUS_INVALID_REQUEST`` reply naming the problem, and any other
  exception into ``STATUS_FAILED`` with its type and message (logged, never a crash);
* count and time everything in :class:`~ptn.services.metrics.OperatorMetrics`;
* given a private output directory, keep the model's state there for resuming
  (:mod:`ptn.services.state`: saved after every request that changed it, restored before the
  first request of the same negotiation).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
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
from ptn.services.state import SavedState, StateStore, negotiation_base

LOG = logging.getLogger("ptn.operator")

#: replies kept for answering retries
REPLY_CACHE_SIZE = 4096

#: what a host needs of a model (the base Protocol of every role's)
OperatorModel = Operator

__all__ = ["REPLY_CACHE_SIZE", "OperatorHost", "OperatorModel", "service_methods"]


class _Pending:
    """A request being computed, which retries with the same id wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply = b""


class OperatorHost:
    """One operator's model behind its role's service, speaking serialized protobuf.

    ``binding``: the role's (default: the registry's, :mod:`ptn.services.hosting`).
    ``state_dir``: where to keep the model's state for resuming (None: nowhere).
    """

    def __init__(self, model: Operator, metrics: OperatorMetrics | None = None, *,
                 binding: Binding[Any] | None = None, state_dir: Path | None = None) -> None:
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
        self._cache_lock = threading.Lock()
        self._replies: OrderedDict[str, _Pending] = OrderedDict()
        self._store = None if state_dir is None \
            else StateStore(state_dir, self.role, self.operator_id)
        self._saved: SavedState | None = None
        if self._store is not None:
            self._saved = self._store.load()
            if self._saved is None:
                self._store.mark_saved(model.snapshot())

    @property
    def service(self) -> str:
        return service_name(self.role)

    def offers(self, method: str) -> bool:
        """Whether the binding answers a method of the service (others are UNIMPLEMENTED)."""
        return method in self.methods and self.binding.rpc(method) is not None

    def handle(self, method: str, request: bytes) -> bytes:
        """Answer one serialized request with a serialized reply (never raises for bad input)."""
        spec = self.methods.get(method)
        rpc = self.binding.rpc(method)
        if spec is None or rpc is None:
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
        if header.operator_id != self.operator_id:
            return self._refusal(spec, request_id, f"request addressed to "
                                 f"{header.operator_id!r}, this is {self.operator_id!r}")
        with self._cache_lock:
            pending = self._replies.get(request_id)
            first = pending is None
            if first:
                pending = _Pending()
                self._replies[request_id] = pending
                while len(self._replies) > REPLY_CACHE_SIZE:
                    self._replies.popitem(last=False)
        assert pending is not None
        if not first:
            self.metrics.duplicates.labels(self.role, method).inc()
            pending.done.wait()
            return pending.reply
        try:
            pending.reply = self._apply(spec, rpc, message, header)
        finally:
            pending.done.set()
        return pending.reply

    def _apply(self, spec: MethodSpec, rpc: Rpc[Any, Any], message: Any,
               header: common_pb2.RequestHeader) -> bytes:
        in_progress = self.metrics.in_progress.labels(self.role)
        started = time.perf_counter()
        in_progress.inc()
        try:
            with self._model_lock:
                self._resume(header.negotiation_id)
                answer = rpc.answer(self.model, message)
                if rpc.changes_state:
                    self._keep_state(header.negotiation_id)
            reply = answer.reply
            if not isinstance(reply, spec.output_type):
                raise TypeError(f"the binding answered {spec.name} with a "
                                f"{type(reply).__name__}, not a {spec.output_type.__name__}")
            status = WIRE_STATUS[answer.result.status]
            text = answer.result.message
        except InvalidInputError as error:
            reply, status, text = spec.output_type(), common_pb2.STATUS_INVALID_REQUEST, \
                str(error)
        except Exception as error:  # failure is data: the coordinator reports it
            LOG.exception("%s %s failed", self.operator_id, spec.name)
            reply, status, text = spec.output_type(), common_pb2.STATUS_FAILED, \
                f"{type(error).__name__}: {error}"
            self.metrics.failures.labels(self.role, spec.name).inc()
        finally:
            in_progress.dec()
        seconds = time.perf_counter() - started
        reply.header.CopyFrom(reply_header(header, self.operator_id, status, text, seconds))  # type: ignore[attr-defined]
        LOG.info("%s %s round %d request %s: %s in %.1f ms", self.operator_id, spec.name,
                 header.round, header.request_id, common_pb2.Status.Name(status),
                 seconds * 1000)
        self.metrics.duration.labels(self.role, spec.name).observe(seconds)
        self.metrics.requests.labels(self.role, spec.name,
                                     common_pb2.Status.Name(status)).inc()
        data: bytes = reply.SerializeToString()
        return data

    def _resume(self, negotiation_id: str) -> None:
        """Before the first request: restore the saved state of the same negotiation (by its
        base), or discard a saved state of another one."""
        saved, self._saved = self._saved, None
        if saved is None or negotiation_base(saved.negotiation_id) \
                != negotiation_base(negotiation_id):
            return
        assert self._store is not None
        try:
            self.model.restore(saved.model)
        except InvalidInputError as error:
            raise RuntimeError(f"cannot restore the operator's state from {self._store.path}: "
                               f"{error}") from error
        LOG.info("%s restored its state of negotiation %s from %s", self.operator_id,
                 saved.negotiation_id, self._store.path)

    def _keep_state(self, negotiation_id: str) -> None:
        """Save the model's state if the request changed it (a failed write is logged: the
        negotiation goes on, only its resumption would start from an older state)."""
        if self._store is None:
            return
        try:
            self._store.save(negotiation_id, self.model.snapshot())
        except (OSError, TypeError, ValueError):
            LOG.exception("%s could not save its state to %s", self.operator_id,
                          self._store.path)

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
