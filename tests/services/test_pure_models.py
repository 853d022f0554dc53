"""Operator models are pure: no module of ``services/<role>/`` imports protobuf, grpc or ray.

Checked twice: statically (every import statement of every module of each role's package) and
at run time (importing every role's modules in a fresh interpreter loads no protobuf message
code, no grpc, no ray and none of ptn's wire code, whatever they import in turn; cvxpy's probe
for an installed OR-Tools imports the bare ``google.protobuf`` package, which is not ours to
avoid). Only the host and its bindings speak protobuf (issue 14, item 2).
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support import package_directories

ROLES = ("dso", "traffic", "tno", "cno")
#: what a model must not import: the wire's code, the transports
FORBIDDEN = ("google.protobuf", "grpc", "grpc_health", "ray", "ptn.protocol")


def role_modules(role: str) -> list[str]:
    folder = package_directories()["ptn.services"] / role
    return sorted(path.stem for path in folder.glob("*.py") if path.stem != "__init__")


def imported_names(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


@pytest.mark.parametrize("role", ROLES)
def test_no_module_of_a_role_imports_the_wire_or_a_transport(role: str) -> None:
    folder = package_directories()["ptn.services"] / role
    modules = role_modules(role)
    assert {"config", "contract", "model"} <= set(modules), modules
    for module in modules:
        for name in imported_names((folder / f"{module}.py").read_text(encoding="utf-8")):
            assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN), \
                f"ptn.services.{role}.{module} imports {name}"


def test_importing_every_role_loads_no_protobuf_grpc_or_ray() -> None:
    modules = [f"ptn.services.{role}.{module}" for role in ROLES for module in role_modules(role)]
    script = (f"import sys\nfor m in {modules!r}:\n    __import__(m)\n"
              "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', "
              "'grpc_health', 'ray') or m.endswith('_pb2') or m.startswith(("
              "'google.protobuf.message', 'ptn.protocol', 'ptn.services.bindings', "
              "'ptn.services.host')))\n"
              "print(','.join(loaded))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=True)
    loaded = [name for name in result.stdout.strip().split(",") if name]
    assert loaded == [], f"importing the role models loaded {loaded[:10]}"
