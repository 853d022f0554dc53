"""Data tables (CSV or Parquet) read so that every error names the file and the line or row.

Why this module exists: the engines read several user tables of the same kind, a header and one
record per row (per-period trip matrices, :mod:`ptn.engines.traffic.trip_tables`; per-bus load
profiles, :mod:`ptn.engines.power.bus_load_profiles`), and a user fixing one needs to be told
where the bad value is. :func:`read_table` reads either format (Parquet when the suffix says
so, else CSV) and :class:`DataTable` locates a row as ``path:line`` in a CSV (the header is
line 1) or ``path: row r`` in Parquet (rows from 0), checks numeric and integer columns, and
finds repeated keys; :func:`resample_periods` fits a table given per period of the scenario
file to a day resampled by ``--periods``. Errors are
:class:`~ptn.engines.errors.InvalidInputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: file suffixes read as Parquet (anything else is read as CSV)
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class DataTable:
    """A table read from ``path`` with its column names stripped of blanks."""

    path: Path
    frame: pd.DataFrame
    parquet: bool

    @property
    def columns(self) -> list[str]:
        return [str(name) for name in self.frame.columns]

    def place(self, row: int) -> str:
        """Where row ``row`` (from 0) is in the file: ``line N`` (CSV) or ``row N`` (Parquet)."""
        return f"row {row}" if self.parquet else f"line {row + 2}"

    def where(self, row: int) -> str:
        """``path:line`` (CSV) or ``path: row N`` (Parquet), to start an error message."""
        return f"{self.path}: row {row}" if self.parquet else f"{self.path}:{row + 2}"

    def fail(self, row: int, message: str) -> NoReturn:
        raise InvalidInputError(f"{self.where(row)}: {message}")

    def require_columns(self, required: Sequence[str], allowed: Sequence[str], what: str
                        ) -> None:
        """Every ``required`` column present and none outside ``allowed``; ``what`` names the
        kind of table in the message (e.g. "a trip table has the columns ...")."""
        listed = ", ".join(allowed)
        missing = [name for name in required if name not in self.columns]
        if missing:
            raise InvalidInputError(f"{self.path}: missing column(s) {', '.join(missing)} "
                                    f"({what} has the columns {listed})")
        extra = [name for name in self.columns if name not in allowed]
        if extra:
            raise InvalidInputError(f"{self.path}: unknown column(s) {', '.join(extra)} "
                                    f"({what} has the columns {listed})")

    def numbers(self, name: str) -> FloatArray:
        """Column ``name`` as floats; a blank or non-numeric cell, or an infinite one, fails
        naming its line."""
        values = pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = int(bad[0])
            self.fail(row, f"{name} {self.frame[name].iloc[row]!r} is not a finite number")
        return values

    def integers(self, name: str) -> IntArray:
        """Column ``name`` as integers (finite, whole numbers), failing naming the line."""
        values = self.numbers(name)
        fractional = np.flatnonzero(values != np.round(values))
        if fractional.size:
            row = int(fractional[0])
            self.fail(row, f"{name} {values[row]:g} is not an integer")
        return values.astype(np.int64)

    def first_repeat(self, keys: Mapping[str, NDArray[Any]]) -> tuple[int, int] | None:
        """``(row, first)``: the first row whose ``keys`` (column name → values) repeat an
        earlier row's, and that earlier row; None when every key is unique."""
        frame = pd.DataFrame(dict(keys))
        repeated = np.flatnonzero(frame.duplicated().to_numpy())
        if not repeated.size:
            return None
        row = int(repeated[0])
        same = np.ones(len(frame), dtype=bool)
        for values in keys.values():
            same &= np.asarray(values) == np.asarray(values)[row]
        return row, int(np.flatnonzero(same)[0])


def read_table(path: Path, what: str) -> DataTable:
    """Read ``path`` as Parquet (suffix ``.parquet``/``.pq``) or CSV; ``what`` names the table
    in the errors ("trip table"). A missing or unreadable file fails naming it."""
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such {what}")
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    try:
        frame = pd.read_parquet(path) if parquet else pd.read_csv(path, skipinitialspace=True)
    except Exception as error:  # any reader failure is a bad file
        raise InvalidInputError(f"{path}: not a readable {'Parquet' if parquet else 'CSV'} "
                                f"table ({error})") from error
    frame.columns = [str(name).strip() for name in frame.columns]
    return DataTable(path, frame, parquet)


def resample_periods(values: FloatArray, periods: int, what: str = "a table"
                     ) -> FloatArray:
    """A table's per-period rows (periods × anything: demand rates in veh/h, load multipliers)
    over the same day in ``periods`` equal periods, by time averaging (fewer, longer periods)
    or repetition (more, shorter ones), as ``--periods`` resamples a daily profile; the counts
    must divide one another (``what`` names the table in the error)."""
    rates = np.asarray(values, dtype=np.float64)
    given = rates.shape[0]
    if periods == given:
        return rates
    if periods < 1 or (given % periods and periods % given):
        raise InvalidInputError(f"{what} of {given} periods cannot be resampled to "
                                f"{periods} periods (one count must divide the other)")
    if periods < given:
        return rates.reshape(periods, given // periods, *rates.shape[1:]).mean(axis=1)
    return np.repeat(rates, periods // given, axis=0)
