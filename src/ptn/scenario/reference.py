"""The reference of every scenario key, generated from the schema: rows, JSON and Markdown.

Why this module exists: a scenario's user needs every key with its type, unit, default, bounds
and meaning, and that list must never drift from what the validation accepts. It is therefore
generated from the schema (:mod:`ptn.scenario.schema`): ``ptn scenario keys`` prints the rows,
and ``python -m ptn.scenario.reference [PATH]`` writes docs/scenarios.md (a test fails when the
committed file differs from :func:`markdown`).
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ptn.scenario.keys import Table
from ptn.scenario.schema import ScenarioFile
from ptn.scenario.validation import bounds_of, is_table, unwrap

#: where the generated reference lives in a checkout
DOCUMENT = Path("docs") / "scenarios.md"


@dataclass(frozen=True)
class KeyRow:
    """One key of a scenario file as the reference shows it."""

    table: str  # as written in TOML: [traffic], [[traffic.station]], [cno.<id>]
    key: str
    type: str
    unit: str
    default: str
    bounds: str
    meaning: str


@dataclass(frozen=True)
class TableInfo:
    """One table of a scenario file: how it is written and what it is for."""

    table: str
    meaning: str


def type_name(annotation: Any) -> str:
    """A key's type in words (TOML's names)."""
    annotation = unwrap(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if origin is list:
        inner = type_name(get_args(annotation)[0])
        return "array of tables" if inner == "table" else f"list of {inner}s"
    if origin is dict or is_table(annotation):
        return "table"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(annotation))
    names = {int: "integer", float: "number", bool: "boolean", str: "string"}
    return names.get(annotation, "value")


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return str(extra["default_text"])
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, Table):
        return ""
    return json.dumps(value)


def bounds_text(field: FieldInfo) -> str:
    bounds = bounds_of(field)
    lower = next(((n, bounds[n]) for n in ("ge", "gt") if n in bounds), None)
    upper = next(((n, bounds[n]) for n in ("le", "lt") if n in bounds), None)
    if lower and upper:
        return (f"{'[' if lower[0] == 'ge' else '('}{lower[1]:g}, {upper[1]:g}"
                f"{']' if upper[0] == 'le' else ')'}")
    if lower:
        return f"{'>=' if lower[0] == 'ge' else '>'} {lower[1]:g}"
    if upper:
        return f"{'<=' if upper[0] == 'le' else '<'} {upper[1]:g}"
    return ""


def _written(path: str, kind: str) -> str:
    return f"[[{path}]]" if kind == "array" else f"[{path}]"


def tables() -> list[tuple[TableInfo, type[Table]]]:
    """Every table of a scenario file, depth first in file order, with its model."""
    found: list[tuple[TableInfo, type[Table]]] = []

    def visit(model: type[Table], path: str, kind: str) -> None:
        if path:
            doc = (model.__doc__ or "").strip().split("\n\n")[0]
            text = " ".join(doc.split())
            text = text.split(": ", 1)[-1] if text.startswith("``") else text
            meaning = (text[:1].upper() + text[1:]).replace("``", "`")
            found.append((TableInfo(_written(path, kind), meaning), model))
        for name, field in model.model_fields.items():
            annotation = unwrap(field.annotation)
            child = f"{path}.{name}" if path else name
            if is_table(annotation):
                visit(annotation, child, "table")
            elif get_origin(annotation) is list and is_table(unwrap(get_args(annotation)[0])):
                visit(unwrap(get_args(annotation)[0]), child, "array")
            elif get_origin(annotation) is dict and is_table(unwrap(get_args(annotation)[1])):
                visit(unwrap(get_args(annotation)[1]), f"{child}.<id>", "table")

    visit(ScenarioFile, "", "table")
    return found


def rows() -> list[KeyRow]:
    """Every key of a scenario file (sub-tables are tables of their own, not rows)."""
    found = []
    for info, model in tables():
        for name, field in model.model_fields.items():
            annotation = unwrap(field.annotation)
            if is_table(annotation) or (get_origin(annotation) in (list, dict) and any(
                    is_table(unwrap(a)) for a in get_args(annotation))):
                continue
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) \
                else {}
            found.append(KeyRow(info.table, name, str(extra.get("type", type_name(annotation))),
                                str(extra.get("unit", "")), default_text(field),
                                bounds_text(field), field.description or ""))
    return found


def as_json() -> str:
    return json.dumps([asdict(row) for row in rows()], indent=2)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


INTRO = """\
# Scenario files: every table and key

<!-- generated by `python -m ptn.scenario.reference` from the schema (src/ptn/scenario/schema.py
and operator_tables.py); do not edit: tests/scenario/test_schema_reference.py checks it -->

A scenario is one TOML file: the public facts (`[scenario]`), the coordinator's settings
(`[coordinator]`), and one table per operator, which only that operator reads. `ptn scenario
keys` prints this list (`--json` too); `ptn scenario check FILE` validates a file and names the
file, the key and the reason of every problem. Arrays of tables (`[[traffic.station]]`) are
counted from 1 in error messages, lists of values from 0.

Units: MW, MWh, h, veh/h, $ (any currency), $/MWh; fractions are in [0, 1]. A default "unset"
means the key has no value unless given (its meaning says what happens then); "required" keys
must be given when their table is.

Which operator tables a mechanism uses (`coordinator.mechanism`); any other operator table,
and `[dso.pricing]` outside the pricing game, is an error:

| mechanism | tables |
|---|---|
| `admm` | `[dso]`, `[traffic]` |
| `best-response` | `[dso]`, `[traffic]`, `[cno.<id>]` (and `[dso.pricing]`) |
| `profit-sharing` | `[dso]`, `[tno]` |
"""


def markdown() -> str:
    """docs/scenarios.md: every table with its keys."""
    lines = [INTRO]
    by_table: dict[str, list[KeyRow]] = {}
    for row in rows():
        by_table.setdefault(row.table, []).append(row)
    for info, _ in tables():
        lines.append(f"## `{info.table}`\n")
        if info.meaning:
            lines.append(f"{info.meaning}\n")
        keys = by_table.get(info.table, [])
        if not keys:
            continue
        lines.append("| key | type | unit | default | bounds | meaning |")
        lines.append("|---|---|---|---|---|---|")
        for row in keys:
            literal = row.default and " " not in row.default \
                and row.default not in ("required", "unset")
            default = f"`{row.default}`" if literal else row.default
            lines.append(f"| `{row.key}` | {_cell(row.type)} | {_cell(row.unit)} | "
                         f"{_cell(default)} | {_cell(row.bounds)} | {_cell(row.meaning)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference to PATH (default docs/scenarios.md)."""
    arguments = sys.argv[1:] if argv is None else argv
    target = Path(arguments[0]) if arguments else DOCUMENT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(markdown(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
