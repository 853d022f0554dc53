"""The operator roles: each role's configuration reader and model factory, in one table.

Why this module exists: a scenario part becomes a running operator in one place, whatever hosts
it (this process, a Ray actor, a ``ptn serve`` process), and a scenario's tables are checked up
front by the same readers its operators will use. The role modules are imported only when a role
is used (an operator process loads its own role's engines, nothing else).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import ScenarioPart
from ptn.services.host import OperatorHost, OperatorModel
from ptn.services.metrics import OperatorMetrics


@dataclass(frozen=True)
class RoleEntry:
    """Where a role's code lives: ``module:function`` of its configuration reader (a part in,
    a validated configuration out) and ``module:class`` of its model (``from_part``)."""

    config_reader: str
    model: str

    def read_config(self, part: ScenarioPart) -> Any:
        return _resolve(self.config_reader)(part)

    def build(self, part: ScenarioPart, private_output_dir: Path | None) -> OperatorModel:
        model: OperatorModel = _resolve(self.model).from_part(part, private_output_dir)
        return model


ROLES = {
    "dso": RoleEntry("ptn.services.dso.model:dso_config_from_part",
                     "ptn.services.dso.model:DsoModel"),
    "traffic": RoleEntry("ptn.services.traffic.model:traffic_config_from_part",
                         "ptn.services.traffic.model:TrafficDepartmentModel"),
    "tno": RoleEntry("ptn.services.tno.model:tno_case_from_part",
                     "ptn.services.tno.model:TnoModel"),
    "cno": RoleEntry("ptn.services.cno.model:cno_config_from_part",
                     "ptn.services.cno.model:CnoModel"),
}


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def role_entry(role: str) -> RoleEntry:
    if role not in ROLES:
        raise InvalidInputError(f"role {role!r} has no operator model (known: "
                                f"{', '.join(ROLES)})")
    return ROLES[role]


def check_part(part: ScenarioPart) -> None:
    """Read a part's configuration once, so bad data fails naming the key."""
    role_entry(part.role).read_config(part)


def build_model(role: str, part: ScenarioPart,
                private_output_dir: Path | None = None) -> OperatorModel:
    """The pure model of a role from its scenario part."""
    if part.role != role:
        raise InvalidInputError(f"operator {part.operator_id!r} is a {part.role}, not a {role}")
    return role_entry(role).build(part, private_output_dir)


def build_host(part: ScenarioPart, private_output_dir: Path | None = None,
               metrics: OperatorMetrics | None = None) -> OperatorHost:
    """A part's model behind its role's service."""
    return OperatorHost(build_model(part.role, part, private_output_dir), metrics)
