"""What every operator role answers, in domain values: statuses, descriptions, loads, costs.

Why this module exists: an operator's model is pure (numpy arrays and small frozen dataclasses
with units in their names; no protobuf, grpc or ray), and its role's service is a typed
:class:`typing.Protocol` over these values, so mypy checks the contract between the model and
its host's binding (:mod:`ptn.services.bindings`), which alone turns the values into
``negotiation.v1`` messages. A result is a value with a status and a message (failure is data);
invalid input raises :class:`ptn.engines.errors.InvalidInputError` naming the item, and the host
answers it with ``STATUS_INVALID_REQUEST``. An invalid request changes nothing in the model.

Every model also keeps what its later results depend on in a JSON-able snapshot
(:meth:`Operator.snapshot` and :meth:`Operator.restore`), which its host persists so that an
interrupted negotiation can resume (:mod:`ptn.services.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ptn.engines.coupling import CouplingTerms

FloatArray = NDArray[np.float64]


class OperatorStatus(StrEnum):
    """How a request went, as the schema's ``Status`` says it (without ``UNSPECIFIED``)."""

    #: solved to the operator's tolerances
    OK = "ok"
    #: solved, but a relaxation or tolerance check failed (the message says which)
    INEXACT = "inexact"
    #: the operator's problem has no solution for this request
    INFEASIBLE = "infeasible"
    #: the operator's solver stopped before its tolerance
    NOT_CONVERGED = "not_converged"
    #: the request cannot be answered as asked (e.g. a cost before anything was solved)
    INVALID_REQUEST = "invalid_request"
    #: anything else went wrong inside the operator
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """A result with nothing but its status (e.g. an acknowledged payment)."""

    status: OperatorStatus = OperatorStatus.OK
    message: str = ""


@dataclass(frozen=True)
class OperatorDescription:
    """An operator's public facts: its role, id, stations (public names), horizon."""

    role: str
    operator_id: str
    stations: tuple[str, ...]
    periods: int
    period_hours: float


@dataclass(frozen=True)
class PrivacyReport:
    """What an operator's accountant has spent on its noisy releases of a datum so far
    (docs/privacy-mechanisms.md): ε by the best composition bound (``bound``) at ``delta``,
    the releases, and whether the budget admits no further release."""

    epsilon: float
    delta: float
    releases: int
    bound: str
    exhausted: bool


@dataclass(frozen=True)
class StationLoads:
    """Station loads (stations in the operator's order × periods, MW); None without a
    solution (then the status says why). ``privacy``: set when the loads carry differentially
    private noise, the privacy spent so far."""

    load_mw: FloatArray | None
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""
    privacy: PrivacyReport | None = None


@dataclass(frozen=True)
class CostReport:
    """An operator's own cost over the horizon ($), without payments or coordination terms;
    NaN with status ``INVALID_REQUEST`` when there is nothing to report yet."""

    cost_usd: float
    status: OperatorStatus = OperatorStatus.OK
    message: str = ""

    @classmethod
    def refused(cls, reason: str) -> CostReport:
        return cls(float("nan"), OperatorStatus.INVALID_REQUEST, reason)


class Operator(Protocol):
    """What every role's model offers its host."""

    @property
    def role(self) -> str: ...

    @property
    def operator_id(self) -> str: ...

    def describe(self) -> OperatorDescription:
        """Its public facts (the reply to ``Describe``)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Everything a later result depends on, as JSON-able values."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (of a model built from the same part): later
        requests get the replies the snapshotted model would have given (solver tolerances
        aside). Raises :class:`~ptn.engines.errors.InvalidInputError` on an unusable state."""
        ...


class CoupledOperator(Operator, Protocol):
    """A role that takes part in ADMM on the station loads and reports its own cost."""

    def consensus_step(self, coupling: CouplingTerms) -> StationLoads:
        """Its ADMM local step: its loads minimizing its cost plus the coupling terms."""
        ...

    def report_cost(self) -> CostReport:
        """Its own cost at its latest state-defining solve."""
        ...
