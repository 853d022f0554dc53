"""``ptn certs``: the certificates of a test deployment, for the parties of a scenario.

Why this module exists: the command line names operators as ``ID[=ROLE]`` (or takes them from a
scenario); this module turns that into the operator ids that
:func:`ptn.services.adapters.certificates.make_certificates` certifies, checks a given role
against the scenario's, and describes what was written.
"""

from __future__ import annotations

from pathlib import Path

from ptn.engines.errors import InvalidInputError
from ptn.services.adapters.certificates import make_certificates
from ptn.services.adapters.identity import COORDINATOR_IDENTITY, operator_identity

ROLES = ("dso", "traffic", "tno", "cno")


def operator_ids(operators: list[str], scenario: str | None) -> list[str]:
    """The ids of ``--operator ID[=ROLE]`` options, and of ``--scenario``'s operators."""
    ids: list[str] = []
    roles: dict[str, str] = {}
    if scenario is not None:
        from ptn.scenario.document import load_scenario

        loaded = load_scenario(scenario)
        for operator_id in loaded.operator_ids:
            ids.append(operator_id)
            roles[operator_id] = loaded.part(operator_id).role
    for option in operators:
        operator_id, separator, role = option.replace(":", "=", 1).partition("=")
        if not operator_id or (separator and role not in ROLES):
            raise InvalidInputError(f"--operator {option!r}: expected ID or ID=ROLE with ROLE "
                                    f"one of {', '.join(ROLES)}")
        if separator and roles.get(operator_id, role) != role:
            raise InvalidInputError(f"--operator {option!r}: the scenario's {operator_id} is a "
                                    f"{roles[operator_id]}")
        if operator_id not in ids:
            ids.append(operator_id)
    return ids


def make_deployment_certificates(directory: Path, operators: list[str], scenario: str | None,
                                 *, force: bool, reuse_ca: bool, days: int) -> list[str]:
    """Write the CA and the parties' folders; one line per folder, for the terminal."""
    written = make_certificates(directory, operator_ids(operators, scenario), force=force,
                                reuse_authority=reuse_ca, days=days)
    lines = [f"{directory / 'ca.crt'}: the CA (keep {directory / 'ca.key'} off the parties' "
             f"machines)"]
    for folder in written:
        identity = (COORDINATOR_IDENTITY if folder.name == "coordinator"
                    else operator_identity(folder.name))
        lines.append(f"{folder}/: {identity}")
    return lines
