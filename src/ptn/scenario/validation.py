"""Validating a table of a scenario against its schema, with the project's error messages.

Why this module exists: pydantic reports a bad value as a location tuple and its own wording;
a scenario's user is promised one :class:`~ptn.engines.errors.InvalidInputError` naming the
file, the key path and the reason (``my.toml: traffic.station[2].node: expected an integer,
got "x"``), with arrays of tables counted from 1 in file order as everywhere else
(:mod:`ptn.engines.toml_keys`). :func:`validate_table` gives that; :func:`schema_errors` lists
every problem of a table (``ptn scenario check`` shows them all).
"""

from __future__ import annotations

import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from ptn.engines.errors import InvalidInputError
from ptn.engines.toml_keys import show_value
from ptn.scenario.keys import Table

TableT = TypeVar("TableT", bound=Table)

_INTEGER_ERRORS = ("int_type", "int_from_float", "int_parsing")
_NUMBER_ERRORS = ("float_type", "float_parsing")
_TEXT_ERRORS = ("string_type", "string_parsing")
_TABLE_ERRORS = ("model_type", "dict_type", "model_attributes_type")
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def validate_table(model: type[TableT], data: Any, label: str, where: str) -> TableT:
    """``data`` (the table at key path ``where`` of file ``label``; empty: the whole file)
    as ``model``, or one InvalidInputError naming the first bad key (an unknown key first)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = _ordered(error.errors())[0]
        path, reason = describe(model, first, where)
        prefix = f"{label}: {path}: " if path else f"{label}: "
        raise InvalidInputError(prefix + reason) from None


def schema_errors(model: type[Table], data: Any, where: str = "") -> list[tuple[str, str]]:
    """Every problem of ``data`` against ``model`` as (key path, reason), unknown keys first."""
    try:
        model.model_validate(data)
    except ValidationError as error:
        return [describe(model, details, where) for details in _ordered(error.errors())]
    return []


def _ordered(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    return sorted(errors, key=lambda e: e["type"] != "extra_forbidden")


def unwrap(annotation: Any) -> Any:
    """The type of a key that may be unset (``X | None`` -> ``X``)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Table)


def describe(model: type[Table], details: ErrorDetails, where: str) -> tuple[str, str]:
    """(key path, reason) of one pydantic error found validating ``model`` at ``where``."""
    parts = [where] if where else []
    current: Any = model
    field: FieldInfo | None = None
    parent: type[Table] | None = None
    location = details["loc"]
    for depth, step in enumerate(location):
        last = depth == len(location) - 1
        if is_table(current):
            if not isinstance(step, str) or step not in current.model_fields:
                parent = current
                parts.append(str(step))
                break
            parent, field = current, current.model_fields[step]
            current = unwrap(field.annotation)
            parts.append(step)
        elif get_origin(current) is list and isinstance(step, int):
            inner = unwrap(get_args(current)[0])
            parts[-1] += f"[{step + 1}]" if is_table(inner) else f"[{step}]"
            current = inner
        elif get_origin(current) is dict and isinstance(step, str):
            parts.append(step)
            current = unwrap(get_args(current)[1])
        elif not last:
            break
    path = ".".join(parts)
    return _reason(details, path, current, field, parent, where)


def _reason(details: ErrorDetails, path: str, annotation: Any, field: FieldInfo | None,
            parent: type[Table] | None, where: str) -> tuple[str, str]:
    kind, value = details["type"], details.get("input")
    shown = show_value(value)
    extra = field.json_schema_extra if field is not None and isinstance(
        field.json_schema_extra, dict) else {}
    context = details.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = ", ".join(parent.model_fields) if parent is not None else ""
        what = "table" if parent is not None and not where and "." not in path else "key"
        return path, f"unknown {what} (allowed: {allowed})"
    if kind == "missing":
        name = str(details["loc"][-1])
        parent_path = path.rpartition(".")[0] if "." in path else ""
        if is_table(annotation):
            return parent_path, f"missing required table [{path}]"
        return parent_path, f"missing required key '{name}'"
    if kind == "ptn":
        return path, str(context.get("reason", details["msg"]))
    if "message" in extra and (kind in _BOUND_ERRORS or kind == "finite_number"):
        return path, f"{extra['message']}, got {shown}"
    if "type_message" in extra and (kind in _NUMBER_ERRORS or kind in _INTEGER_ERRORS):
        return path, f"{extra['type_message']}, got {shown}"
    if kind in _INTEGER_ERRORS:
        return path, f"expected an integer, got {shown}"
    if kind in _NUMBER_ERRORS:
        return path, f"expected a number, got {shown}"
    if kind == "finite_number":
        return path, f"expected a finite number, got {shown}"
    if kind in ("bool_type", "bool_parsing"):
        return path, f"expected true or false, got {shown}"
    if kind in _TEXT_ERRORS:
        return path, f"expected a string, got {shown}"
    if kind == "literal_error":
        return path, _choice_reason(annotation, extra, value)
    if kind in _BOUND_ERRORS:
        return path, _bound_reason(kind, context, field, annotation, value)
    if kind in _TABLE_ERRORS:
        return path, f"expected a table [{path}], got {shown}"
    if kind == "list_type":
        if get_origin(annotation) is list and is_table(unwrap(get_args(annotation)[0])):
            if isinstance(value, dict):
                return path, f"expected an array of tables: write [[{path}]], not [{path}]"
            return path, f"expected an array of tables [[{path}]], got {shown}"
        return path, f"expected a list, got {shown}"
    return path, f"{details['msg'].lower()}, got {shown}"


def _choice_reason(annotation: Any, extra: dict[str, Any], value: Any) -> str:
    allowed = [str(a) for a in get_args(annotation)] if get_origin(annotation) is Literal \
        else []
    if not isinstance(value, str):
        return f"expected a string, got {show_value(value)}"
    if "choice" in extra:
        return f"unknown {extra['choice']} {value!r} (allowed: {', '.join(allowed)})"
    return f"expected one of {', '.join(allowed)}, got {show_value(value)}"


def bounds_of(field: FieldInfo | None) -> dict[str, float]:
    """The bounds (``ge``, ``gt``, ``le``, ``lt``) declared on a key."""
    found: dict[str, float] = {}
    for item in field.metadata if field is not None else ():
        for name in ("ge", "gt", "le", "lt"):
            bound = getattr(item, name, None)
            if bound is not None:
                found[name] = bound
    return found


def _bound_reason(kind: str, context: dict[str, Any], field: FieldInfo | None,
                  annotation: Any, value: Any) -> str:
    bounds = bounds_of(field)
    shown = show_value(value)
    lower = [name for name in ("ge", "gt") if name in bounds]
    upper = [name for name in ("le", "lt") if name in bounds]
    if lower and upper:
        low, high = bounds[lower[0]], bounds[upper[0]]
        return (f"must be in {'[' if lower[0] == 'ge' else '('}{low:g}, {high:g}"
                f"{']' if upper[0] == 'le' else ')'}, got {shown}")
    if kind == "greater_than":
        return f"must be positive, got {shown}" if context.get("gt") == 0 else \
            f"must be > {context.get('gt'):g}, got {shown}"
    if kind == "greater_than_equal":
        bound = context.get("ge")
        return f"must be at least {bound}, got {shown}" if annotation is int else \
            f"must be >= {bound:g}, got {shown}"
    symbol = "<=" if kind == "less_than_equal" else "<"
    bound = context.get("le", context.get("lt"))
    return f"must be {symbol} {bound:g}, got {shown}"


def file_errors(document: dict[str, Any], label: str) -> list[str]:
    """Every schema problem of a parsed scenario file, operators' tables included, each as
    ``file: key.path: reason`` (``ptn scenario check`` lists them all)."""
    from ptn.scenario.schema import ScenarioFile

    return [f"{label}: {path}: {reason}" if path else f"{label}: {reason}"
            for path, reason in schema_errors(ScenarioFile, document)]
