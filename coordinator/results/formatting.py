"""How numbers are written into results: CSV cells, JSON values, money on the terminal.

Why this module exists: every mechanism's results folder writes the same kinds of values, and a
researcher opening two of them side by side must find them written the same way: a float as its
shortest round-trip repr, an absent or non-finite value as an empty CSV cell and as ``null`` in
strict JSON, money with thousands separators.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def csv_cell(value: Any) -> str:
    """A CSV cell: text as is, an integer as digits, a finite float as its shortest
    round-trip repr, anything absent or not finite as the empty cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    return repr(number) if math.isfinite(number) else ""


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """A CSV table with a header row, each cell written by :func:`csv_cell`."""
    with Path(path).open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])
    return Path(path)


def money(value: float) -> str:
    """Dollars for the terminal: ``12,345.68``, or a dash when not finite."""
    return f"{value:,.2f}" if math.isfinite(value) else "—"


def json_ready(value: Any) -> Any:
    """Replace NaN and infinities by None (null) and numpy scalars by Python ones."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, int | np.integer):
        return int(value)
    return value
