"""Per-bus load profiles read from a table: each bus's own multiplier of its base load per period.

Why this module exists: a scenario's ``load_profile`` scales every bus's load by one shape, so
a commercial bus peaking at noon and a residential one peaking in the evening look alike. Users
of pandapower give each load its own time series (``ConstControl`` over a DataFrame of ``p_mw``
per load element), MATPOWER's ``most`` a profile per bus. :func:`read_bus_load_profiles` reads
such shapes, as multipliers of the feeder case's base loads (active and reactive alike), from a
CSV or Parquet table in either of two layouts:

* long: the columns ``feeder, bus, period, multiplier``, one row per bus and period (periods
  numbered from 0, as in the results' CSV files; every period of a listed bus given once);
* wide: the columns ``feeder, bus, p0, p1, …, p<T−1>``, one row per bus.

``feeder`` is the feeder's name as the scenario names it (``ptn opf --feeder X --list-buses``
lists the buses), and may be left out when the DSO has one feeder; ``bus`` is the feeder's
external bus label. Buses not listed keep the case's ``load_profile``. Every problem is an
:class:`~ptn.engines.errors.InvalidInputError` naming the file, the line (CSV, header line 1)
or row (Parquet, from 0), the feeder and the bus: an unknown feeder or bus, the slack bus, a bus
without load, a period out of range, a negative or non-finite multiplier, a repeated row, a
missing period.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.der import BusLoadProfile
from ptn.engines.power.feeder import Feeder
from ptn.engines.tables import DataTable, FloatArray, IntArray, read_table

#: the columns of the long layout
LONG_COLUMNS = ("feeder", "bus", "period", "multiplier")
_PERIOD_COLUMN = re.compile(r"p(\d+)")
_LIST_HINT = "ptn opf --feeder <case> --list-buses lists them"


def read_bus_load_profiles(path: str | Path, feeders: Sequence[Feeder], periods: int
                           ) -> tuple[BusLoadProfile, ...]:
    """The per-bus load shapes of the table at ``path`` for ``feeders`` over ``periods``
    periods, in the order the buses first appear (see the module doc for the layouts)."""
    table = read_table(Path(path), "bus load profile table")
    if "feeder" not in table.columns and len(feeders) > 1:
        raise InvalidInputError(f"{table.path}: the DSO has {len(feeders)} feeders "
                                f"({', '.join(f.name for f in feeders)}); add a feeder column")
    wide = any(_PERIOD_COLUMN.fullmatch(name) for name in table.columns) \
        and not {"period", "multiplier"} & set(table.columns)
    rows, feeder_names, bus, period, multiplier = (
        _wide(table, feeders, periods) if wide else _long(table, feeders))
    return _profiles(table, feeders, periods, wide, rows, feeder_names, bus, period, multiplier)


def _feeder_column(table: DataTable, feeders: Sequence[Feeder]) -> list[str]:
    """Each row's feeder name (the only feeder's when the column is left out)."""
    names = [f.name for f in feeders]
    if "feeder" not in table.columns:
        return [names[0]] * len(table.frame)
    cells = table.frame["feeder"].tolist()
    found: list[str] = []
    for row, cell in enumerate(cells):
        name = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) \
            else str(cell).strip()
        if name not in names:
            shown = repr(name) if name else "(empty)"
            table.fail(row, f"feeder {shown} is not a feeder of this DSO (feeders: "
                            f"{', '.join(names)})")
        found.append(name)
    return found


def _long(table: DataTable, feeders: Sequence[Feeder]
          ) -> tuple[IntArray, list[str], IntArray, IntArray, FloatArray]:
    required = LONG_COLUMNS[1:] if len(feeders) == 1 else LONG_COLUMNS
    table.require_columns(required, LONG_COLUMNS, "a long bus load profile table")
    names = _feeder_column(table, feeders)
    bus = table.integers("bus")
    period = table.integers("period")
    multiplier = pd.to_numeric(table.frame["multiplier"], errors="coerce"
                               ).to_numpy(dtype=np.float64)
    return np.arange(len(table.frame), dtype=np.int64), names, bus, period, multiplier


def _wide(table: DataTable, feeders: Sequence[Feeder], periods: int
          ) -> tuple[IntArray, list[str], IntArray, IntArray, FloatArray]:
    period_columns = [f"p{t}" for t in range(periods)]
    allowed = ("feeder", "bus", *period_columns)
    what = f"a wide bus load profile table (p0..p{periods - 1}: one column per period)"
    for name in table.columns:
        match = _PERIOD_COLUMN.fullmatch(name)
        if match and int(match.group(1)) >= periods:
            raise InvalidInputError(f"{table.path}: column {name} is outside the periods "
                                    f"0..{periods - 1}")
    required = ("bus", *period_columns) if len(feeders) == 1 else allowed
    table.require_columns(required, allowed, what)
    names = _feeder_column(table, feeders)
    bus = table.integers("bus")
    values = np.column_stack([
        pd.to_numeric(table.frame[name], errors="coerce").to_numpy(dtype=np.float64)
        for name in period_columns])
    count = len(table.frame)
    rows = np.repeat(np.arange(count, dtype=np.int64), periods)
    period = np.tile(np.arange(periods, dtype=np.int64), count)
    return (rows, [n for n in names for _ in range(periods)], np.repeat(bus, periods), period,
            values.reshape(-1))


def _profiles(table: DataTable, feeders: Sequence[Feeder], periods: int, wide: bool,
              rows: IntArray, feeder_names: list[str], bus: IntArray, period: IntArray,
              multiplier: FloatArray) -> tuple[BusLoadProfile, ...]:
    """Check every entry against the feeders and periods; one profile per listed bus."""
    by_name = {f.name: f for f in feeders}
    positions = np.empty(rows.size, dtype=np.int64)
    for k in range(rows.size):
        feeder = by_name[feeder_names[k]]
        label = int(bus[k])
        at = f"bus {label} of feeder {feeder.name}"
        matches = np.flatnonzero(feeder.bus_ids == label)
        if matches.size == 0:
            table.fail(int(rows[k]), f"feeder {feeder.name} has no bus {label} ({_LIST_HINT})")
        position = int(matches[0])
        if position == feeder.slack_bus:
            table.fail(int(rows[k]), f"{at} is the slack bus: its load is not modelled")
        if feeder.load_p_mw[position] == 0 and feeder.load_q_mvar[position] == 0:
            table.fail(int(rows[k]), f"{at} has no load to scale ({_LIST_HINT} with their "
                                     "loads)")
        positions[k] = position
        if not 0 <= period[k] < periods:
            table.fail(int(rows[k]), f"{at}: period {period[k]} is outside 0..{periods - 1} "
                                     "(periods are numbered from 0)")
        column = f"p{period[k]}" if wide else "multiplier"
        value = multiplier[k]
        if not np.isfinite(value):
            cell = table.frame[column].iloc[int(rows[k])]
            shown = repr(cell) if isinstance(cell, str) else "(empty)" if pd.isna(cell) \
                else f"{float(cell):g}"
            table.fail(int(rows[k]), f"{at}: {column} {shown} is not a finite number")
        if value < 0:
            table.fail(int(rows[k]), f"{at}: {column} {value:g} is negative (a multiplier of "
                                     "the bus's base load)")
    codes = np.array([list(by_name).index(name) for name in feeder_names], dtype=np.int64)
    keys: dict[str, IntArray] = {"f": codes, "b": positions} if wide else \
        {"f": codes, "b": positions, "p": period}
    if wide:  # one row per bus: compare rows, not their expanded periods
        first_of_row = np.arange(0, rows.size, periods)
        keys = {name: values[first_of_row] for name, values in keys.items()}
    repeat = table.first_repeat(keys)
    if repeat is not None:
        row, first = repeat
        k = row * periods if wide else row
        what = f"bus {bus[k]} of feeder {feeder_names[k]}" + ("" if wide
                                                             else f", period {period[k]}")
        table.fail(row, f"{what} is given twice (first at {table.place(first)})")
    profiles: dict[tuple[str, int], FloatArray] = {}
    seen: dict[tuple[str, int], NDArray[np.bool_]] = {}
    for k in range(rows.size):
        key = (feeder_names[k], int(bus[k]))
        if key not in profiles:
            profiles[key] = np.zeros(periods)
            seen[key] = np.zeros(periods, dtype=bool)
        profiles[key][period[k]] = multiplier[k]
        seen[key][period[k]] = True
    for (name, label), given in seen.items():
        if not given.all():
            missing = int(np.flatnonzero(~given)[0])
            raise InvalidInputError(
                f"{table.path}: bus {label} of feeder {name} has no row for period {missing} "
                f"(a listed bus needs a multiplier for every period 0..{periods - 1})")
    return tuple(BusLoadProfile(bus=label, multipliers=values, feeder=name)
                 for (name, label), values in profiles.items())

