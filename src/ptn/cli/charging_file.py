"""``ptn opf --charging``: EV charging loads in the wide format or in ``ptn run``'s long one.

Why this module exists: ``ptn run`` writes ``loads.csv`` in the long format (one row per
station and period: ``station,period,agreed_load_mw,...``) while the OPF's charging file is
wide (``period,<point>,...``). A user who feeds a negotiated load into ``ptn opf`` should not
have to pivot it. The wide format goes to :func:`ptn.engines.power.case_file.
read_charging_csv`; the long one is read here with the same checks (every charging point and
period once, finite, non-negative, at most the point's ``max_mw``), errors naming
``file:line`` and the column. The load column is ``load_mw``, else ``agreed_load_mw`` (the
negotiated load), unless ``column`` names another (``baseline_load_mw``,
``centralized_load_mw``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.case_file import read_charging_csv

#: the load column of a long file, in order of preference
LONG_LOAD_COLUMNS = ("load_mw", "agreed_load_mw")


def read_charging_loads(path: Path, point_names: Sequence[str], periods: int, *,
                        max_mw: Sequence[float], column: str | None = None) -> np.ndarray:
    """Charging loads (MW) ``[point, period]`` from a wide or a long CSV file."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"cannot read charging file {label}: "
                                f"{(error.strerror or str(error)).lower()}") from error
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{label}: not UTF-8 text") from error
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = next(([cell.strip() for cell in row] for row in rows
                   if any(cell.strip() for cell in row)), [])
    if "station" not in header:
        if column is not None:
            raise InvalidInputError(f"--charging-column {column}: {label} is a wide file "
                                    "(period,<point>,...): its columns are the points")
        return read_charging_csv(path, point_names, periods, max_mw=max_mw)
    return _long(label, rows, header, point_names, periods, max_mw, column)


def _long(label: str, rows: list[list[str]], header: list[str], point_names: Sequence[str],
          periods: int, max_mw: Sequence[float], column: str | None) -> np.ndarray:
    if "period" not in header:
        raise InvalidInputError(f"{label}: a long charging file needs a 'period' column beside "
                                f"'station' (has: {', '.join(header)})")
    if column is None:
        column = next((name for name in LONG_LOAD_COLUMNS if name in header), None)
        if column is None:
            raise InvalidInputError(
                f"{label}: no load column ({' or '.join(LONG_LOAD_COLUMNS)}; has: "
                f"{', '.join(header)}); name one with --charging-column")
    elif column not in header:
        raise InvalidInputError(f"--charging-column {column}: not a column of {label} (has: "
                                f"{', '.join(header)})")
    at = {name: header.index(name) for name in ("station", "period", column)}
    loads = np.full((len(point_names), periods), np.nan)
    seen: dict[tuple[int, int], int] = {}
    started = False
    for line, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if not started:
            started = True
            continue
        if len(cells) != len(header):
            raise InvalidInputError(f"{label}:{line}: expected {len(header)} fields, got "
                                    f"{len(cells)}")
        station = cells[at["station"]]
        if station not in point_names:
            raise InvalidInputError(
                f"{label}:{line}: station {station!r} is not a charging point of the case "
                f"(points: {', '.join(point_names) or 'none'}; a --der file names them)")
        point = list(point_names).index(station)
        try:
            period = int(cells[at["period"]])
        except ValueError:
            period = -1
        if not 0 <= period < periods:
            raise InvalidInputError(f"{label}:{line}: period {cells[at['period']]!r} is not one "
                                    f"of 0 to {periods - 1}")
        if (point, period) in seen:
            raise InvalidInputError(f"{label}:{line}: station {station!r} period {period} "
                                    f"already given on line {seen[(point, period)]}")
        seen[(point, period)] = line
        try:
            value = float(cells[at[column]])
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInputError(f"{label}:{line}: column {column!r}: expected a finite "
                                    f"non-negative load in MW, got {cells[at[column]]!r}")
        if value > max_mw[point]:
            raise InvalidInputError(f"{label}:{line}: column {column!r}: {value:g} MW exceeds "
                                    f"the charging point's max_mw {max_mw[point]:g}")
        loads[point, period] = value
    missing = [(point_names[p], t) for p, t in zip(*np.nonzero(np.isnan(loads)), strict=True)]
    if missing:
        shown = ", ".join(f"{name} period {t}" for name, t in missing[:4])
        raise InvalidInputError(f"{label}: no row for {shown}"
                                + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
                                + f" (need every charging point in periods 0 to {periods - 1})")
    return loads
