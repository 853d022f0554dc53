"""Seed 002's load-following time-of-use tariff (Ma et al. 2024, eq. 22).

Why this module exists: seed 002 does not fix its peak, flat and valley hours. It sets them from
the feeder's *equivalent load*, the base load plus the EV charging load, ``P_eq(t) = P_D(t) +
P_CS(t)``. With ``P_av`` the mean of ``P_eq`` over the day and ``P_h = max P_eq − min P_eq`` its
peak-to-valley difference (eq. 22):

* peak:   ``P_eq(t) ≥ P_av + σ·P_h``, price ``(1 + δ)·ρ0``;
* flat:   ``P_av − σ·P_h ≤ P_eq(t) < P_av + σ·P_h``, price ``ρ0``;
* valley: ``P_eq(t) < P_av − σ·P_h``, price ``(1 − δ)·ρ0``.

The paper's Table 1 gives levels that are not symmetric around ρ0 (1.09, 0.68, 0.35 CNY/kWh), so
:class:`TariffLevels` holds the three prices and :meth:`TariffLevels.from_delta` builds eq. 22's
symmetric ones. A flat equivalent load (``P_h = 0``) has no peak and no valley: every period is
flat (eq. 22 read literally would call every period a peak there).

The charging load depends on the tariff and the tariff on the charging load, so the tariff the
EVs meet is a fixed point (:func:`tariff_fixed_point`): tariff → the drivers' response (seed 002:
the SUE traffic) → equivalent load → period classes → tariff. The classes are discrete, so the
iteration either repeats its classes (a fixed point) or revisits earlier ones (a cycle, reported
as a status, not hidden). Pure numpy; the response is any callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.profiles import seed002_time_of_use_hourly

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: period classes of eq. 22
PEAK, FLAT, VALLEY = 1, 0, -1
CLASS_NAMES = {PEAK: "peak", FLAT: "flat", VALLEY: "valley"}
#: :func:`tariff_fixed_point`'s statuses
CONVERGED, CYCLE, MAX_ITERATIONS = "converged", "cycle", "max_iterations"


@dataclass(frozen=True)
class TariffLevels:
    """The price of each period class (currency per MWh)."""

    peak_per_mwh: float
    flat_per_mwh: float
    valley_per_mwh: float

    def __post_init__(self) -> None:
        prices = (self.valley_per_mwh, self.flat_per_mwh, self.peak_per_mwh)
        if not all(np.isfinite(p) and p >= 0 for p in prices) \
                or not prices[0] <= prices[1] <= prices[2]:
            raise InvalidInputError(
                f"tariff levels: need 0 <= valley <= flat <= peak, got valley "
                f"{self.valley_per_mwh!r}, flat {self.flat_per_mwh!r}, peak {self.peak_per_mwh!r}")

    @classmethod
    def from_delta(cls, flat_per_mwh: float, delta: float) -> TariffLevels:
        """Eq. 22's levels ``(1 ± δ)·ρ0`` around the flat price ``ρ0``."""
        if not (np.isfinite(delta) and 0 <= delta <= 1):
            raise InvalidInputError(f"tariff delta: expected a number in [0, 1], got {delta!r}")
        return cls((1 + delta) * flat_per_mwh, flat_per_mwh, (1 - delta) * flat_per_mwh)

    def prices(self, classes: ArrayLike) -> FloatArray:
        """The price of each period, given its class (PEAK, FLAT or VALLEY)."""
        labels = np.asarray(classes)
        return np.where(labels == PEAK, self.peak_per_mwh,
                        np.where(labels == VALLEY, self.valley_per_mwh,
                                 self.flat_per_mwh)).astype(np.float64)


def table_1_levels() -> TariffLevels:
    """Seed 002's Table 1 levels: peak 1.09, flat 0.68, valley 0.35 CNY/kWh, per MWh."""
    valley, flat, peak = np.unique(seed002_time_of_use_hourly())
    return TariffLevels(peak_per_mwh=float(peak), flat_per_mwh=float(flat),
                        valley_per_mwh=float(valley))


def _check_load(equivalent_load_mw: ArrayLike) -> FloatArray:
    load = np.asarray(equivalent_load_mw, dtype=np.float64)
    if load.ndim != 1 or load.size == 0 or not np.isfinite(load).all():
        raise InvalidInputError("equivalent_load_mw: expected a non-empty series of finite "
                                f"numbers (one per period), got shape {load.shape}")
    return load


def _check_sigma(sigma: float) -> float:
    if isinstance(sigma, bool) or not (np.isfinite(sigma) and 0 <= sigma <= 0.5):
        raise InvalidInputError(f"tariff sigma: expected a number in [0, 0.5], got {sigma!r}")
    return float(sigma)


def period_classes(equivalent_load_mw: ArrayLike, sigma: float) -> IntArray:
    """Eq. 22's class of each period: PEAK (1), FLAT (0) or VALLEY (−1), from the equivalent
    load (MW per period) and the band half-width σ, a fraction of the peak-to-valley
    difference (0 ≤ σ ≤ 0.5)."""
    load = _check_load(equivalent_load_mw)
    width = _check_sigma(sigma) * float(load.max() - load.min())
    classes = np.full(load.size, FLAT, dtype=np.int64)
    if load.max() == load.min():
        return classes
    mean = float(load.mean())
    classes[load >= mean + width] = PEAK
    classes[load < mean - width] = VALLEY
    return classes


def equivalent_load_mw(base_load_mw: ArrayLike, charging_load_mw: ArrayLike) -> FloatArray:
    """``P_eq = P_D + P_CS`` per period: the base load (periods,) plus the charging load, either
    per period or per (station, period), summed over the stations."""
    base = _check_load(base_load_mw)
    charging = np.asarray(charging_load_mw, dtype=np.float64)
    total = charging.sum(axis=0) if charging.ndim == 2 else charging
    if total.shape != base.shape:
        raise InvalidInputError(f"charging_load_mw: expected {base.size} periods, got shape "
                                f"{charging.shape}")
    return base + total


def dynamic_tariff(equivalent_load_mw: ArrayLike, sigma: float,
                   levels: TariffLevels) -> FloatArray:
    """Eq. 22's price per period (currency per MWh)."""
    return levels.prices(period_classes(equivalent_load_mw, sigma))


@dataclass(frozen=True)
class TariffFixedPoint:
    """Where :func:`tariff_fixed_point` stopped.

    ``status``: CONVERGED (the classes reproduce themselves), CYCLE (the classes revisit an
    earlier, different assignment; the last one is returned) or MAX_ITERATIONS. ``classes`` and
    ``tariff_per_mwh`` (periods,), ``charging_load_mw`` (the response at that tariff) and
    ``equivalent_load_mw`` belong together; ``history`` lists the classes tried, first to last.
    """

    status: str
    classes: IntArray
    tariff_per_mwh: FloatArray
    charging_load_mw: FloatArray
    equivalent_load_mw: FloatArray
    iterations: int
    history: tuple[tuple[int, ...], ...]

    @property
    def converged(self) -> bool:
        return self.status == CONVERGED


def tariff_fixed_point(
    response: Callable[[FloatArray], FloatArray],
    base_load_mw: ArrayLike,
    sigma: float,
    levels: TariffLevels,
    *,
    max_iterations: int = 20,
) -> TariffFixedPoint:
    """The tariff that the charging it causes reproduces (module doc).

    ``response`` maps a tariff (periods,) to the charging load it causes, per period or per
    (station, period), MW. The iteration starts from the classes of the base load alone (no
    charging) and stops when the classes repeat (CONVERGED), revisit an earlier assignment
    (CYCLE) or after ``max_iterations`` responses.
    """
    base = _check_load(base_load_mw)
    if max_iterations < 1:
        raise InvalidInputError(f"max_iterations: expected at least 1, got {max_iterations}")
    classes = period_classes(base, sigma)
    history: list[tuple[int, ...]] = [tuple(int(c) for c in classes)]
    status = MAX_ITERATIONS
    for iteration in range(1, max_iterations + 1):
        tariff = levels.prices(classes)
        charging = np.asarray(response(tariff), dtype=np.float64)
        equivalent = equivalent_load_mw(base, charging)
        following = period_classes(equivalent, sigma)
        key = tuple(int(c) for c in following)
        if key == history[-1]:
            status = CONVERGED
        elif key in history:
            status = CYCLE
        if status != MAX_ITERATIONS or iteration == max_iterations:
            return TariffFixedPoint(status=status, classes=classes, tariff_per_mwh=tariff,
                                    charging_load_mw=charging, equivalent_load_mw=equivalent,
                                    iterations=iteration, history=tuple(history))
        history.append(key)
        classes = following
    raise AssertionError("unreachable")  # pragma: no cover
