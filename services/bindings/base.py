"""What a binding is (RPC name → decode, call the model's Protocol, encode), and its shared parts.

Why this module exists: the host (:mod:`ptn.services.host`) speaks serialized protobuf and the
models speak domain values (:mod:`ptn.services.contract`); a :class:`Binding` is the typed table
between them, one per role, so that mypy checks every RPC against the role's Protocol (no
dispatch by reflection). An RPC's answer is the reply message *without its header* and the
result's status and message: the host builds the header (request id, operator id, status,
message, seconds) once for every reply. Decoding goes through :mod:`ptn.protocol.codec`, which
refuses malformed series naming the station; the parts every role shares (``Describe``,
``ConsensusStep``, ``ReportCost``, the statuses) live here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf.message import Message

from ptn.engines.coupling import CouplingSide
from ptn.engines.errors import InvalidInputError
from ptn.protocol.codec import coupling_terms, operator_info, to_series
from ptn.protocol.schema import service_methods
from ptn.protocol.v1 import common_pb2
from ptn.services.contract import (
    CoupledOperator,
    Operator,
    OperatorStatus,
    Outcome,
    PrivacyReport,
    StationLoads,
)

M = TypeVar("M", contravariant=True)

#: |amount| bound ($) of the money a request names (a payment, a reference cost): a trillion
#: dollars, far beyond any operator's yearly turnover, far below where sums lose their digits
MAX_ABS_AMOUNT_USD = 1e12
#: the longest free text a request may carry (a payment's reason), characters
MAX_TEXT_CHARS = 1000
Req = TypeVar("Req", bound=Message)

#: the schema's status of each domain status
WIRE_STATUS: dict[OperatorStatus, common_pb2.Status] = {
    OperatorStatus.OK: common_pb2.STATUS_OK,
    OperatorStatus.INEXACT: common_pb2.STATUS_INEXACT,
    OperatorStatus.INFEASIBLE: common_pb2.STATUS_INFEASIBLE,
    OperatorStatus.NOT_CONVERGED: common_pb2.STATUS_NOT_CONVERGED,
    OperatorStatus.INVALID_REQUEST: common_pb2.STATUS_INVALID_REQUEST,
    OperatorStatus.FAILED: common_pb2.STATUS_FAILED,
}


class Result(Protocol):
    """Any domain result: it carries a status and a message."""

    @property
    def status(self) -> OperatorStatus: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class Answer:
    """An RPC's reply message without its header, and the status and message of its result."""

    reply: Message
    result: Result


@dataclass(frozen=True)
class Rpc(Generic[M, Req]):
    """One RPC: its name, its request message class, how a model of the role answers it, and
    whether an answer can change the model's state (the host saves the state only after those:
    a description, a cost report or a probe leaves it as it was)."""

    name: str
    request_type: type[Req]
    answer: Callable[[M, Req], Answer]
    changes_state: bool = True


@dataclass(frozen=True)
class Binding(Generic[M]):
    """A role's RPCs (a subset of its service's methods: the others are UNIMPLEMENTED)."""

    role: str
    rpcs: tuple[Rpc[M, Any], ...]

    def __post_init__(self) -> None:
        """Each RPC must be a method of the role's service, with its request type."""
        methods = service_methods(self.role)
        for rpc in self.rpcs:
            spec = methods.get(rpc.name)
            if spec is None or spec.input_type is not rpc.request_type:
                raise TypeError(f"binding of {self.role}: {rpc.name} is not a method of its "
                                f"service taking {rpc.request_type.__name__}")

    def rpc(self, method: str) -> Rpc[M, Any] | None:
        return next((rpc for rpc in self.rpcs if rpc.name == method), None)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(rpc.name for rpc in self.rpcs)


def bounded_amount(value: float, what: str) -> float:
    """A request's amount of money, refused (naming ``what``) unless finite and within
    :data:`MAX_ABS_AMOUNT_USD`."""
    if not math.isfinite(value):
        raise InvalidInputError(f"{what} must be finite, got {value}")
    if abs(value) > MAX_ABS_AMOUNT_USD:
        raise InvalidInputError(f"{what} must lie within ±{MAX_ABS_AMOUNT_USD:g} $, got "
                                f"{value:g}")
    return value


def bounded_text(value: str, what: str) -> str:
    """A request's free text, refused (naming ``what``) beyond :data:`MAX_TEXT_CHARS`."""
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidInputError(f"{what}: {len(value)} characters, at most {MAX_TEXT_CHARS}")
    return value


# ---------------------------------------------------------------------- shared answers
def describe(model: Operator, request: common_pb2.DescribeRequest) -> Answer:
    """``Describe``: the operator's public facts."""
    facts = model.describe()
    info = operator_info(role=facts.role, operator_id=facts.operator_id,
                         stations=facts.stations, periods=facts.periods,
                         period_hours=facts.period_hours)
    return Answer(common_pb2.DescribeReply(info=info), Outcome())


def consensus_step(side: CouplingSide
                   ) -> Callable[[CoupledOperator, common_pb2.ConsensusStep], Answer]:
    """``ConsensusStep`` for a role on ``side`` of the coupling: the request's λ, ρ and z as
    that side's :class:`~ptn.engines.coupling.CouplingTerms`, its loads in reply."""

    def answer(model: CoupledOperator, request: common_pb2.ConsensusStep) -> Answer:
        facts = model.describe()
        coupling = coupling_terms(request, facts.stations, facts.periods,
                                  period_hours=facts.period_hours, side=side)
        return load_reply(facts.stations, model.consensus_step(coupling))

    return answer


def report_cost(model: CoupledOperator, request: common_pb2.CostRequest) -> Answer:
    """``ReportCost``: its own cost, or a refusal with the reason."""
    report = model.report_cost()
    return Answer(common_pb2.CostReport(cost=report.cost_usd), report)


def load_reply(stations: Sequence[str], loads: StationLoads) -> Answer:
    """A ``LoadReply`` (without loads when there is no solution; with the privacy spent
    when the loads carry differentially private noise)."""
    reply = common_pb2.LoadReply()
    if loads.load_mw is not None:
        reply.load_mw.CopyFrom(to_series(stations, loads.load_mw))
    if loads.privacy is not None:
        reply.privacy.CopyFrom(privacy_spent(loads.privacy))
    return Answer(reply, loads)


def privacy_spent(report: PrivacyReport) -> common_pb2.PrivacySpent:
    """The ``PrivacySpent`` message of an operator's account of its noisy releases."""
    return common_pb2.PrivacySpent(epsilon=report.epsilon, delta=report.delta,
                                   releases=report.releases, bound=report.bound,
                                   exhausted=report.exhausted)
