"""Reading TOML data files with errors that name the file and the key path.

Why this module exists: the DER case files (:mod:`ptn.engines.power.case_file`) and the scenario
files (:mod:`ptn.scenario.document`) promise the same thing: every problem is one
:class:`~ptn.engines.errors.InvalidInputError` naming the file and the key path (``file: key.path:
message``), TOML syntax errors name ``file:line:column``. One reader keeps that promise for both.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.profiles import daily_profile

FloatArray = NDArray[np.float64]


def read_toml_document(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; unreadable, non-UTF-8 or malformed files raise naming the file."""
    file = Path(path)
    label = str(path)
    try:
        raw = file.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise InvalidInputError(f"cannot read {what} {label}: {reason.lower()}") from error
    return parse_toml_text(raw, label)


def parse_toml_text(raw: bytes, label: str) -> dict[str, Any]:
    """Parse TOML bytes read from ``label``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InvalidInputError(f"{label}:{line}: not UTF-8 text") from error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(syntax_error(label, text, error)) from error


class KeyReader:
    """Typed access to a parsed TOML document, raising errors that name file and key path."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key_path: str, message: str) -> None:
        prefix = f"{self.label}: {key_path}: " if key_path else f"{self.label}: "
        raise InvalidInputError(prefix + message)

    def check_keys(
        self, mapping: dict[str, Any], where: str, allowed: Sequence[str], *, what: str = "key"
    ) -> None:
        """Refuse any key of ``mapping`` not in ``allowed``, listing the allowed ones."""
        for key in mapping:
            if key not in allowed:
                path = f"{where}.{key}" if where else key
                self.fail(path, f"unknown {what} (allowed: {', '.join(allowed)})")

    def table(self, document: dict[str, Any], key: str) -> dict[str, Any]:
        value = document.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{key}], got {show_value(value)}")
        return dict(value)

    def array_of_tables(self, document: dict[str, Any], key: str,
                        where: str = "") -> list[dict[str, Any]]:
        """The tables of ``[[where.key]]`` (``where``: the path of ``document``, named in the
        errors; empty at a file's top level)."""
        path = f"{where}.{key}" if where else key
        value = document.get(key, [])
        if isinstance(value, dict):
            self.fail(path, f"expected an array of tables: write [[{path}]], not [{path}]")
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(path, f"expected an array of tables [[{path}]], got {show_value(value)}")
        return list(value)

    def number(
        self,
        mapping: dict[str, Any],
        where: str,
        key: str,
        *,
        default: float | None = None,
        allow_infinite: bool = False,
    ) -> float:
        path = f"{where}.{key}"
        if key not in mapping:
            if default is None:  # pragma: no cover - required keys are checked before
                self.fail(path, "missing")
            return float(default)  # type: ignore[arg-type]
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {show_value(value)}")
        number = float(value)
        if math.isnan(number) or (math.isinf(number) and not allow_infinite):
            self.fail(path, f"expected a finite number, got {show_value(value)}")
        return number

    def integer(self, mapping: dict[str, Any], where: str, key: str) -> int:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key}", f"expected an integer bus label, got {show_value(value)}")
        return int(value)

    def boolean(self, mapping: dict[str, Any], where: str, key: str) -> bool:
        value = mapping[key]
        if not isinstance(value, bool):
            self.fail(f"{where}.{key}", f"expected true or false, got {show_value(value)}")
        return bool(value)

    def text(
        self, mapping: dict[str, Any], where: str, key: str, *, default: str | None = None
    ) -> str:
        if key not in mapping and default is not None:
            return default
        value = mapping[key]
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", f"expected a string, got {show_value(value)}")
        return str(value)

    def profile(
        self,
        mapping: dict[str, Any],
        where: str,
        key: str,
        periods: int,
        default: str | None,
        *,
        nonnegative: bool,
    ) -> FloatArray:
        """A built-in profile name or a list of numbers, resampled to ``periods`` values."""
        path = f"{where}.{key}"
        value = mapping.get(key, default)
        if isinstance(value, list):
            for position, item in enumerate(value):
                if isinstance(item, bool) or not isinstance(item, int | float) \
                        or not math.isfinite(item):
                    self.fail(f"{path}[{position}]",
                              f"expected a finite number, got {show_value(item)}")
                if nonnegative and item < 0:
                    self.fail(f"{path}[{position}]", f"must be >= 0, got {show_value(item)}")
            values: str | list[float] = [float(item) for item in value]
        elif isinstance(value, str):
            values = value
        else:
            self.fail(path, f"expected a built-in profile name or a list of numbers, got "
                            f"{show_value(value)}")
            raise AssertionError("unreachable")  # pragma: no cover
        try:
            return np.asarray(daily_profile(values, periods), dtype=np.float64)
        except InvalidInputError as error:
            self.fail(path, str(error))
            raise  # pragma: no cover - fail always raises


def show_value(value: Any) -> str:
    """A TOML-ish rendering of a value for messages (strings in double quotes)."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def syntax_error(label: str, text: str, error: tomllib.TOMLDecodeError) -> str:
    """``file:line:column: TOML syntax error: ...`` from tomllib's message."""
    message = str(error)
    match = _POSITION.search(message)
    if match:
        reason = message[: match.start()]
        return f"{label}:{match.group(1)}:{match.group(2)}: TOML syntax error: {reason}"
    if _AT_END.search(message):
        reason = _AT_END.sub("", message)
        line = max(text.count("\n") + (0 if text.endswith("\n") else 1), 1)
        return f"{label}:{line}: TOML syntax error: {reason} (at end of file)"
    return f"{label}: TOML syntax error: {message}"


