"""The operator roles in one registry: service, configuration reader, model factory, binding.

Why this module exists: a scenario part becomes a running operator in one place, whatever hosts
it (this process, a Ray actor, a ``ptn serve`` process), and a scenario's tables are checked up
front by the same readers its operators will use. Each :class:`RoleEntry` is typed by its
role's Protocol, so mypy checks that the model factory returns a model the binding can call.
A role's configuration and model modules are imported only when the role is used (an operator
process loads its own role's engines, nothing else); its binding is light (protobuf, codec and
the role's contract).

Adding a role: its contract, config and model under ``services/<role>/``, its binding under
``services/bindings/``, its service in ``protos/negotiation/v1/services.proto`` (with
``ptn.protocol.schema.SERVICE_OF_ROLE``), and an entry here (docs/operators.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ptn.engines.errors import InvalidInputError
from ptn.protocol.schema import service_name
from ptn.scenario.document import ScenarioPart
from ptn.services.bindings.base import Binding
from ptn.services.bindings.cno import CNO_BINDING
from ptn.services.bindings.dso import DSO_BINDING
from ptn.services.bindings.tno import TNO_BINDING
from ptn.services.bindings.traffic import TRAFFIC_BINDING
from ptn.services.cno.contract import CnoOperator
from ptn.services.contract import Operator
from ptn.services.dso.contract import DsoOperator
from ptn.services.host import OperatorHost
from ptn.services.metrics import OperatorMetrics
from ptn.services.session import DEFAULT_SESSION_IDLE_S
from ptn.services.tno.contract import TnoOperator
from ptn.services.traffic.contract import TrafficOperator

M = TypeVar("M", bound=Operator)


@dataclass(frozen=True)
class RoleEntry(Generic[M]):
    """A role: its configuration reader (a part in, a validated configuration out, errors
    naming the key), its model factory (a part and a private output directory in) and the
    binding of its service's RPCs onto its Protocol ``M``."""

    role: str
    read_config: Callable[[ScenarioPart], object]
    build: Callable[[ScenarioPart, Path | None], M]
    binding: Binding[M]

    @property
    def service(self) -> str:
        """The role's fully qualified gRPC service (``negotiation.v1.DsoOperator``)."""
        return service_name(self.role)


# The factories import their role's modules when called (see the module doc).
def _dso_config(part: ScenarioPart) -> object:
    from ptn.services.dso.config import dso_config_from_part

    return dso_config_from_part(part)


def _dso_model(part: ScenarioPart, private_output_dir: Path | None) -> DsoOperator:
    from ptn.services.dso.model import DsoModel

    return DsoModel.from_part(part, private_output_dir)


def _traffic_config(part: ScenarioPart) -> object:
    from ptn.services.traffic.config import traffic_config_from_part

    return traffic_config_from_part(part)


def _traffic_model(part: ScenarioPart, private_output_dir: Path | None) -> TrafficOperator:
    from ptn.services.traffic.model import TrafficDepartmentModel

    return TrafficDepartmentModel.from_part(part, private_output_dir)


def _tno_config(part: ScenarioPart) -> object:
    from ptn.services.tno.config import tno_case_from_part

    return tno_case_from_part(part)


def _tno_model(part: ScenarioPart, private_output_dir: Path | None) -> TnoOperator:
    from ptn.services.tno.model import TnoModel

    return TnoModel.from_part(part, private_output_dir)


def _cno_config(part: ScenarioPart) -> object:
    from ptn.services.cno.config import cno_config_from_part

    return cno_config_from_part(part)


def _cno_model(part: ScenarioPart, private_output_dir: Path | None) -> CnoOperator:
    from ptn.services.cno.model import CnoModel

    return CnoModel.from_part(part, private_output_dir)


ROLES: dict[str, RoleEntry[Any]] = {
    "dso": RoleEntry("dso", _dso_config, _dso_model, DSO_BINDING),
    "traffic": RoleEntry("traffic", _traffic_config, _traffic_model, TRAFFIC_BINDING),
    "tno": RoleEntry("tno", _tno_config, _tno_model, TNO_BINDING),
    "cno": RoleEntry("cno", _cno_config, _cno_model, CNO_BINDING),
}


def role_entry(role: str) -> RoleEntry[Any]:
    if role not in ROLES:
        raise InvalidInputError(f"role {role!r} has no operator model (known: "
                                f"{', '.join(ROLES)})")
    return ROLES[role]


def check_part(part: ScenarioPart) -> None:
    """Read a part's configuration once, so bad data fails naming the key."""
    role_entry(part.role).read_config(part)


def build_model(role: str, part: ScenarioPart,
                private_output_dir: Path | None = None) -> Operator:
    """The pure model of a role from its scenario part."""
    if part.role != role:
        raise InvalidInputError(f"operator {part.operator_id!r} is a {part.role}, not a {role}")
    model: Operator = role_entry(role).build(part, private_output_dir)
    return model


def build_host(part: ScenarioPart, private_output_dir: Path | None = None,
               metrics: OperatorMetrics | None = None, *, state_dir: Path | None = None,
               session_idle_s: float | None = None) -> OperatorHost:
    """A part's model behind its role's service. The model writes its private report in
    ``private_output_dir``; the host keeps the model's state for resuming in ``state_dir``
    (``state.json``, :mod:`ptn.services.state`; None: ``private_output_dir``).
    ``session_idle_s``: seconds after which an idle negotiation may be replaced by another
    (None: :data:`~ptn.services.session.DEFAULT_SESSION_IDLE_S`)."""
    entry = role_entry(part.role)
    return OperatorHost(build_model(part.role, part, private_output_dir), metrics,
                        binding=entry.binding,
                        state_dir=private_output_dir if state_dir is None else state_dir,
                        session_idle_s=DEFAULT_SESSION_IDLE_S if session_idle_s is None
                        else session_idle_s)
