"""What an operator's Ray actor needs from the driver's environment: its ``runtime_env``.

Why this module exists: a scenario names its data through environment variables
(``network = "$PTN_TNTP_DIR/SiouxFalls"``), which the operator expands where its model is built.
A Ray actor's process inherits the environment of the raylet that started it, not the
driver's, so on a cluster whose nodes were started without the variable the operator failed
("$PTN_TNTP_DIR is not set"). Each actor is therefore created with a ``runtime_env`` whose
``env_vars`` carry the driver's value of every variable its scenario part refers to, so the
actor resolves its data paths as the driver does, whichever node it lands on. A variable the
driver does not have is not sent: the node's own value (if any) then applies. Only variables
the part refers to are sent (ptn reads ``PTN_TNTP_DIR`` nowhere else): an actor whose part
needs none gets no ``runtime_env`` and so starts in one of Ray's idle worker processes, while
one with a ``runtime_env`` needs a process of its own (seconds on a loaded node). Ray merges
these ``env_vars`` with a job-level ``runtime_env``'s, the actor's winning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ptn.scenario.document import ScenarioPart

#: ``$NAME`` or ``${NAME}`` in a value of a scenario part (as ScenarioPart.resolve expands)
VARIABLE_REFERENCE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


def referenced_variables(value: Any) -> Iterator[str]:
    """Names of the environment variables the strings in ``value`` (a part's table, nested
    tables and lists) refer to, in order of appearance."""
    if isinstance(value, str):
        for match in VARIABLE_REFERENCE.finditer(value):
            yield match.group(1) or match.group(2)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from referenced_variables(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from referenced_variables(item)


def operator_runtime_env(part: ScenarioPart,
                         environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``runtime_env`` of ``part``'s actor: ``env_vars`` with the driver's value
    (``environment``, default ``os.environ``) of each variable the part refers to; empty when
    there is none to send."""
    environment = os.environ if environment is None else environment
    names = dict.fromkeys(referenced_variables(part.data))
    env_vars = {name: environment[name] for name in names if environment.get(name)}
    return {"env_vars": env_vars} if env_vars else {}
