"""Imports run one way, with no circles: the layering of docs/runtime.md, checked on the source.

lab → coordinator → protocol; services → engines; the runtime (``ptn.coordinator``) never
imports an operator role's model or configuration (``ptn.services.<role>``), the lab, the CLI
or the API; nothing imports the lab but the composition roots (``ptn.api``, ``ptn.cli``).
Module-level imports are read from the source files with ``ast`` (imports under
``if TYPE_CHECKING:`` and inside functions do not count for circles: they run later, if at all);
a subprocess then checks that importing the runtime loads no role's model.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.support import package_directories

#: a package prefix and the prefixes it may import (besides its own), first match wins
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ptn.engines", ()),
    # the codec decodes an ADMM step into the engines' statement of the coupling
    ("ptn.protocol", ("ptn.engines.errors", "ptn.engines.coupling")),
    ("ptn.scenarios", ()),
    ("ptn.scenario", ("ptn.engines", "ptn.scenarios")),
    ("ptn.figures", ("ptn.engines.errors",)),
    ("ptn.metrics_endpoint", ("ptn.engines.errors",)),
    ("ptn.services", ("ptn.engines", "ptn.protocol", "ptn.scenario", "ptn.figures",
                      "ptn.metrics_endpoint")),
    # the runtime hosts operators through the host and the role table, never a role's module;
    # it computes the CNOs' revenues from the messages with the formula the CNOs use
    ("ptn.coordinator", ("ptn.engines.errors", "ptn.engines.games.cno_response.pricing",
                         "ptn.protocol", "ptn.scenario", "ptn.figures", "ptn.metrics_endpoint",
                         "ptn.services.host", "ptn.services.hosting", "ptn.services.metrics",
                         "ptn.services.adapters", "ptn.services.refusal")),
    ("ptn.lab", ("ptn.engines", "ptn.protocol", "ptn.scenario", "ptn.figures",
                 "ptn.services", "ptn.coordinator")),
    # a campaign runs whole negotiations through the public API only
    ("ptn.campaign", ("ptn.api",)),
    ("ptn.api", ("ptn",)),
    ("ptn.cli", ("ptn",)),
    ("ptn.__main__", ("ptn.cli",)),
    ("ptn", ("ptn.api",)),
)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found: dict[str, Path] = {}
    for package, folder in package_directories().items():
        for path in folder.rglob("*.py"):
            relative = path.relative_to(folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            if "__pycache__" in parts or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, *, top_level_only: bool) -> Iterator[str]:
    """The ptn modules a module imports (relative imports resolved; ``from package import
    module`` is an import of the module, not of the package's ``__init__``)."""
    found = modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if not top_level_only:
                    yield from visit(node.body)
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names if alias.name.startswith("ptn"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                if base.startswith("ptn"):
                    for alias in node.names:
                        child = f"{base}.{alias.name}"
                        yield child if child in found else base
            elif not top_level_only:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        yield from visit([child])
    yield from visit(tree.body)


def allowed(importer: str, imported: str) -> bool:
    if imported == importer or (imported.startswith(importer.rsplit(".", 1)[0] + ".") and \
            importer.count(".") >= 2 and imported.split(".")[:2] == importer.split(".")[:2]):
        return True  # within its own top-level subpackage
    for prefix, may in RULES:
        if importer == prefix or importer.startswith(prefix + "."):
            own = prefix if prefix != "ptn" else importer
            return imported == own or imported.startswith(own + ".") or any(
                imported == m or imported.startswith(m if m.endswith(".") else m + ".")
                or (m.endswith(".") and imported.startswith(m)) for m in may)
    return False


def test_imports_run_one_way() -> None:
    found = modules()
    violations = []
    for name, path in found.items():
        for imported in imports(name, path, top_level_only=False):
            if imported in found and not allowed(name, imported):
                violations.append(f"{name} imports {imported}")
    assert not violations, "\n".join(sorted(set(violations)))


def test_no_import_circles() -> None:
    found = modules()
    graph = {name: {i for i in imports(name, path, top_level_only=True)
                    if i in found and i != name}
             for name, path in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph[node]:
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for name in graph:
        if name not in index:
            connect(name)
    assert not circles, circles


@pytest.mark.parametrize("runtime", ["ptn.coordinator.runner",
                                     "ptn.coordinator.mechanisms.registry"])
def test_the_runtime_loads_no_operator_model(runtime: str) -> None:
    code = (f"import sys, {runtime}\n"
            "roles = ('dso', 'traffic', 'tno', 'cno')\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('ptn.lab') or any("
            "m.startswith(f'ptn.services.{r}.{part}') for r in roles "
            "for part in ('model', 'config', 'report')))\n"
            "print(loaded)\n")
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "[]"


@pytest.mark.parametrize(("importer", "imported"), [
    ("ptn.coordinator.runtime.backends", "ptn.services.dso.model"),
    ("ptn.coordinator.mechanisms.admm", "ptn.lab.references.joint"),
    ("ptn.coordinator.runner", "ptn.cli.app"),
    ("ptn.services.host", "ptn.coordinator.runtime.driver"),
    ("ptn.engines.power.distflow", "ptn.protocol.codec"),
    ("ptn.protocol.codec", "ptn.services.host"),
    ("ptn.lab.studies.study", "ptn.cli.app"),
    ("ptn.scenario.document", "ptn.services.hosting"),
])
def test_the_rules_refuse_what_they_must(importer: str, imported: str) -> None:
    assert not allowed(importer, imported)


def test_no_private_name_is_imported_from_another_module() -> None:
    """A helper used by two modules is public (or lives where both can reach it)."""
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ptn"):
                private = [a.name for a in node.names
                           if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    offenders.append(f"{name}: from {node.module} import {', '.join(private)}")
    assert not offenders, "\n".join(offenders)


#: modules longer than this do several jobs (the issue that split them measured 800+ lines)
MAX_MODULE_LINES = 800


def test_modules_are_small() -> None:
    long = {name: count for name, path in modules().items()
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_one_set_of_roles() -> None:
    """The roles a scenario may hold, the schema's services and the registry's roles agree
    (the scenario module keeps its own tuple: operator models import it, and must not load the
    schema's generated code)."""
    from ptn.protocol.schema import SERVICE_OF_ROLE
    from ptn.scenario.document import ROLES
    from ptn.services.hosting import ROLES as REGISTERED

    assert ROLES == tuple(SERVICE_OF_ROLE) == tuple(REGISTERED)
