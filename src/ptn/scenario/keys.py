"""The building blocks of the scenario schema: a key with its meaning, unit and bounds.

Why this module exists: every key of a scenario file is declared once, as a field of a pydantic
model (:mod:`ptn.scenario.schema`, :mod:`ptn.scenario.operator_tables`), with its type, default,
bounds, unit and meaning. Validation (:mod:`ptn.scenario.validation`), ``ptn scenario keys`` and
docs/scenarios.md (:mod:`ptn.scenario.reference`) all read these declarations, so a key's rules
are written in one place. :func:`key` declares a field; the ``Annotated`` types below accept the
values TOML gives a key that takes one of several shapes (a profile name or a list of numbers,
seconds or ``"auto"``), with the project's wording when the value has neither shape.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError, PydanticUndefined

from ptn.engines.toml_keys import show_value

#: the default of a key that must be given
REQUIRED: Any = PydanticUndefined


class Table(BaseModel):
    """A TOML table of a scenario: only its declared keys, TOML's types as they are (no
    coercion: ``"24"`` is not an integer, ``true`` not a number), no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
                              populate_by_name=True)


def key(default: Any, meaning: str, *, unit: str = "", ge: float | None = None,
        gt: float | None = None, le: float | None = None, lt: float | None = None,
        choice: str | None = None, type_name: str | None = None, message: str | None = None,
        type_message: str | None = None, allow_infinite: bool = False,
        default_text: str | None = None) -> Any:
    """A scenario key: its default (:data:`REQUIRED` when it must be given), its meaning and
    unit (both shown by ``ptn scenario keys``), its bounds, and for the errors: ``choice``
    names what a key with a set of allowed words chooses (``unknown method 'x' (allowed:
    ...)``), ``message`` replaces the bound (and not-finite) errors and ``type_message`` the
    type errors (``<message>, got <value>``).
    ``type_name`` and ``default_text`` replace the type and default shown in the reference
    (for keys whose type is a shape of several, or whose default depends on other keys)."""
    extra: dict[str, Any] = {"unit": unit}
    for name, value in (("choice", choice), ("type", type_name), ("message", message),
                        ("type_message", type_message), ("default_text", default_text)):
        if value is not None:
            extra[name] = value
    return Field(default, description=meaning, json_schema_extra=extra, ge=ge, gt=gt, le=le,
                 lt=lt, allow_inf_nan=True if allow_infinite else None)


def fail(reason: str) -> PydanticCustomError:
    """A validation error whose text is ``reason`` as written (no pydantic prefix)."""
    return PydanticCustomError("ptn", "{reason}", {"reason": reason})


def _profile(value: Any) -> Any:
    """A built-in profile name, or a list (its numbers are checked, and it is resampled to the
    scenario's periods, when the operator reads it: ptn.engines.toml_keys.KeyReader.profile)."""
    if isinstance(value, str | list):
        return value
    raise fail(f"expected a built-in profile name or a list of numbers, got {show_value(value)}")


def _number_or_list(value: Any) -> Any:
    """One number, or a list of numbers (one per period or per station, checked by the
    reader that knows which)."""
    if isinstance(value, list) or (isinstance(value, int | float)
                                   and not isinstance(value, bool) and math.isfinite(value)):
        return value
    raise fail(f"expected a number or a list of numbers, got {show_value(value)}")


def _name_list(value: Any) -> Any:
    """A non-empty list of names (each name checked where its meaning is known)."""
    if isinstance(value, list) and value:
        return value
    raise fail(f"expected a non-empty list of station names, got {show_value(value)}")


def _anything(value: Any) -> Any:
    """A value whose shapes the operator's reader checks (it knows the data they refer to)."""
    return value


#: a built-in daily profile name or a list of numbers (24 hourly values or one per period)
Profile = Annotated[Any, PlainValidator(_profile)]
#: one number, or one per period or per station
NumberOrList = Annotated[Any, PlainValidator(_number_or_list)]
#: a non-empty list of names
NameList = Annotated[Any, PlainValidator(_name_list)]
#: a value of several shapes, checked by the reader (the shapes are listed by ``type_name``)
Shaped = Annotated[Any, PlainValidator(_anything)]


def default_of(model: type[Table], name: str) -> Any:
    """The default the schema declares for key ``name`` of ``model`` (for the settings
    dataclasses that mirror a table, so their defaults are not written a second time)."""
    return model.model_fields[name].default
