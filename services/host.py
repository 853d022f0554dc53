"""Hosting an operator's model behind its service: decoding, idempotency, metrics, failures.

Why this module exists: every transport (in-process, Ray actor, gRPC servicer) must treat a
request the same way, so the adapters only move bytes and this host does the rest:

* decode the request as the method's input message of the role's service (the schema is the
  boundary even in-process: only serialized protobuf reaches the model);
* refuse requests addressed to another operator or without a request id;
* answer a repeated request id with the first reply, never applying it twice (a coordinator
  retries calls that may not have arrived with the same id; a retry that arrives while the
  first is still being computed waits for it);
* run one request at a time through the model (models are not thread-safe);
* turn invalid input into a ``STATUS_INVALID_REQUEST`` reply naming the problem, and any other
  exception into ``STATUS_FAILED`` with its type and message (logged, never a crash);
* count and time everything in :class:`~ptn.services.metrics.OperatorMetrics`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

from google.protobuf.message import DecodeError, Message

from ptn.engines.errors import InvalidInputError
from ptn.protocol.schema import (
    MethodSpec,
    UnknownMethodError,
    service_methods,
    service_name,
    snake_case,
)
from ptn.protocol.v1 import common_pb2
from ptn.services.metrics import OperatorMetrics

LOG = logging.getLogger("ptn.operator")

#: replies kept for answering retries
REPLY_CACHE_SIZE = 4096


class OperatorModel(Protocol):
    """What a host needs of a model: its role and id; methods are found by name."""

    role: str
    operator_id: str


class _Pending:
    """A request being computed, which retries with the same id wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply = b""


class OperatorHost:
    """One operator's model behind its role's service, speaking serialized protobuf."""

    def __init__(self, model: OperatorModel, metrics: OperatorMetrics | None = None) -> None:
        self.model = model
        self.role = model.role
        self.operator_id = model.operator_id
        self.metrics = metrics if metrics is not None else OperatorMetrics.create()
        self.methods = service_methods(self.role)
        self._model_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._replies: OrderedDict[str, _Pending] = OrderedDict()

    @property
    def service(self) -> str:
        return service_name(self.role)

    def offers(self, method: str) -> bool:
        """Whether the model implements a method of the service (others are UNIMPLEMENTED)."""
        return method in self.methods and callable(getattr(self.model, snake_case(method), None))

    def handle(self, method: str, request: bytes) -> bytes:
        """Answer one serialized request with a serialized reply (never raises for bad input)."""
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
            pending.reply = self._apply(spec, message, request_id)
        finally:
            pending.done.set()
        return pending.reply

    def _apply(self, spec: MethodSpec, message: Any, request_id: str) -> bytes:
        handler = getattr(self.model, snake_case(spec.name))
        in_progress = self.metrics.in_progress.labels(self.role)
        started = time.perf_counter()
        in_progress.inc()
        try:
            with self._model_lock:
                reply = handler(message)
            status = reply.header.status
        except InvalidInputError as error:
            reply = _failure_reply(spec, request_id, self.operator_id,
                                   common_pb2.STATUS_INVALID_REQUEST, str(error))
            status = common_pb2.STATUS_INVALID_REQUEST
        except Exception as error:  # failure is data: the coordinator reports it
            LOG.exception("%s %s failed", self.operator_id, spec.name)
            reply = _failure_reply(spec, request_id, self.operator_id, common_pb2.STATUS_FAILED,
                                   f"{type(error).__name__}: {error}")
            status = common_pb2.STATUS_FAILED
            self.metrics.failures.labels(self.role, spec.name).inc()
        finally:
            in_progress.dec()
        seconds = time.perf_counter() - started
        LOG.info("%s %s round %d request %s: %s in %.1f ms", self.operator_id, spec.name,
                 message.header.round, request_id, common_pb2.Status.Name(status),
                 seconds * 1000)
        self.metrics.duration.labels(self.role, spec.name).observe(seconds)
        self.metrics.requests.labels(self.role, spec.name,
                                     common_pb2.Status.Name(status)).inc()
        data: bytes = reply.SerializeToString()
        return data

    def _refusal(self, spec: MethodSpec, request_id: str, message: str) -> bytes:
        self.metrics.requests.labels(self.role, spec.name, "STATUS_INVALID_REQUEST").inc()
        reply = _failure_reply(spec, request_id, self.operator_id,
                               common_pb2.STATUS_INVALID_REQUEST, message)
        data: bytes = reply.SerializeToString()
        return data


def _failure_reply(spec: MethodSpec, request_id: str, operator_id: str,
                   status: common_pb2.Status,
                   message: str) -> Message:
    reply = spec.output_type()
    reply.header.CopyFrom(common_pb2.ReplyHeader(  # type: ignore[attr-defined]
        request_id=request_id, operator_id=operator_id, status=status, message=message))
    return reply
