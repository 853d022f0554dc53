"""Daily shapes and tariffs the DSO's scenarios are built from, resampled to any horizon.

A feeder case gives one snapshot of its loads; a multi-period OPF needs their daily shape, the
renewables' availability and the upstream price per period. These are the built-ins a user
gets without supplying series; each cites where it comes from.

* ``rts-winter-weekday``: hourly load in per unit of the daily peak, IEEE Reliability Test
  System (RTS-79, Table 4, winter weekday; repeated in RTS-96, Grigg et al., IEEE Trans. Power
  Syst. 14(3), 1999).
* ``solar``: clear-sky PV availability, ``max(0, sin(π(h − 6)/12))`` at the middle of each hour.
* ``wind``: a typical onshore diurnal shape (stronger at night), per unit of rated power.
* :func:`seed002_time_of_use`: the dynamic time-of-use tariff of seed 002 (peak 13–20 h
  1.09, flat 9–12 and 21–23 h 0.68, valley 1–8 and 24 h 0.35 CNY/kWh), in currency/MWh.

Hour labels follow the papers: hour ``h`` (1–24) is the period ``[h − 1, h)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]

HOURS = 24

RTS_WINTER_WEEKDAY = np.array(
    [67, 63, 60, 59, 59, 60, 74, 86, 95, 96, 96, 95,
     95, 95, 93, 94, 99, 100, 100, 96, 91, 83, 73, 63],
    dtype=np.float64,
) / 100.0

_HOUR_MIDPOINTS = np.arange(HOURS) + 0.5
SOLAR = np.maximum(0.0, np.sin(np.pi * (_HOUR_MIDPOINTS - 6.0) / 12.0))

WIND = np.array(
    [0.78, 0.80, 0.82, 0.80, 0.76, 0.70, 0.62, 0.55, 0.48, 0.42, 0.38, 0.35,
     0.33, 0.34, 0.36, 0.40, 0.46, 0.53, 0.60, 0.66, 0.71, 0.74, 0.76, 0.77],
    dtype=np.float64,
)

BUILTIN_PROFILES: dict[str, FloatArray] = {
    "rts-winter-weekday": RTS_WINTER_WEEKDAY,
    "solar": SOLAR,
    "wind": WIND,
    "flat": np.ones(HOURS),
}

#: seed 002's tariff in CNY/kWh by hour label 1..24
_SEED002_PEAK, _SEED002_FLAT, _SEED002_VALLEY = 1.09, 0.68, 0.35


def seed002_time_of_use_hourly() -> FloatArray:
    """Seed 002's time-of-use tariff per hour (24 values), in currency per MWh."""
    prices = np.empty(HOURS)
    for hour in range(1, HOURS + 1):
        if 13 <= hour <= 20:
            prices[hour - 1] = _SEED002_PEAK
        elif 9 <= hour <= 12 or 21 <= hour <= 23:
            prices[hour - 1] = _SEED002_FLAT
        else:
            prices[hour - 1] = _SEED002_VALLEY
    return prices * 1000.0


def resample_daily(hourly: FloatArray, periods: int) -> FloatArray:
    """Resample a 24-value daily series to ``periods`` equal periods by time averaging.

    ``periods`` must divide 24 or be a multiple of it (e.g. 1, 6, 24, 96).
    """
    hourly = np.asarray(hourly, dtype=np.float64)
    if hourly.shape != (HOURS,):
        raise InvalidInputError(f"a daily profile needs 24 hourly values, got {hourly.size}")
    if periods < 1 or (HOURS % periods and periods % HOURS):
        raise InvalidInputError(
            f"periods must divide 24 or be a multiple of 24 (e.g. 1, 6, 24, 96), got {periods}"
        )
    if periods <= HOURS:
        return hourly.reshape(periods, HOURS // periods).mean(axis=1)
    return np.repeat(hourly, periods // HOURS)


def daily_profile(name_or_values: str | list[float] | FloatArray, periods: int) -> FloatArray:
    """A built-in profile by name (resampled), or explicit values (24 hourly or one per period)."""
    if isinstance(name_or_values, str):
        if name_or_values not in BUILTIN_PROFILES:
            choices = ", ".join(sorted(BUILTIN_PROFILES))
            raise InvalidInputError(f"unknown profile {name_or_values!r}; built-ins: {choices}")
        return resample_daily(BUILTIN_PROFILES[name_or_values], periods)
    values = np.asarray(name_or_values, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise InvalidInputError("a profile must be a list of finite numbers")
    if values.size == periods:
        return values
    if values.size == HOURS:
        return resample_daily(values, periods)
    raise InvalidInputError(
        f"a profile needs {periods} values (one per period) or 24 hourly values, got {values.size}"
    )


def seed002_time_of_use(periods: int) -> FloatArray:
    """Seed 002's tariff resampled to ``periods`` periods, currency per MWh."""
    return resample_daily(seed002_time_of_use_hourly(), periods)
