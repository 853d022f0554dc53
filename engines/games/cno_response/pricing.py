"""A charging network operator's (CNO's) prices and revenue in seed 001's charging price game.

Why this module exists: every best-response search, the CNO service and the coordinator's
certificate of the game share one description of a CNO's decision (its stations and the bounds
of their prices, eq. 26) and one revenue formula (eq. 25); both check their input at the
boundary and name the bad item.

Seed 001 (Lu, Yang, Cui, Du, Tian & Hu 2024, "Optimal pricing strategies for distribution
system operator in coupled power-transportation system", Front. Energy Res. 11:1343311, §3.3;
MODELS.md §3)::

    U_k = Σ_{m,t} (α_mt − λ_mt) · P_mt · Δt                      (eq. 25)
    s.t. α_mt^min ≤ α_mt ≤ α_mt^max                                (eq. 26)

with λ the DSO's price to the CNO and P the stations' loads. Arrays of one CNO are
(stations, periods) in $/MWh or MW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CnoPricing:
    """A CNO's stations and its price bounds. Arrays are (stations, periods) in $/MWh.

    Each bound may be given as a scalar, one value per period (1-D, the last axis), a column
    (stations, 1) or the full array; both are broadcast to (stations, periods). When the bounds
    do not fix the number of periods (scalars or columns), ``periods`` must; when given it must
    agree with them. The stored arrays are read-only copies.
    """

    station_names: tuple[str, ...]
    price_min_per_mwh: FloatArray
    price_max_per_mwh: FloatArray
    period_hours: float = 1.0
    periods: int | None = None

    def __post_init__(self) -> None:
        names = tuple(self.station_names)
        if not names:
            raise InvalidInputError("a CNO needs at least one station")
        for name in names:
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"station names must be non-empty strings, got {name!r}")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidInputError(f"duplicate station names: {', '.join(duplicates)}")
        low = as_float_array(self.price_min_per_mwh, "price_min_per_mwh")
        high = as_float_array(self.price_max_per_mwh, "price_max_per_mwh")
        for values, what in ((low, "price_min_per_mwh"), (high, "price_max_per_mwh")):
            if values.ndim > 2:
                raise InvalidInputError(f"{what} must be at most 2-D, got shape {values.shape}")
            if values.ndim == 2 and values.shape[0] != len(names):
                raise InvalidInputError(
                    f"{what} has {values.shape[0]} rows for {len(names)} stations"
                )
        widths = {a.shape[-1] for a in (low, high) if a.ndim >= 1 and a.shape[-1] != 1}
        if self.periods is not None:
            if int(self.periods) != self.periods or self.periods < 1:
                raise InvalidInputError(f"periods must be a positive integer, got {self.periods}")
            widths.add(int(self.periods))
        if len(widths) > 1:
            raise InvalidInputError(
                f"price bounds disagree on the number of periods: {sorted(widths)}"
            )
        if not widths:
            raise InvalidInputError(
                "the price bounds do not fix the number of periods: give periods="
            )
        shape = (len(names), widths.pop())
        low = np.broadcast_to(low, shape).copy()
        high = np.broadcast_to(high, shape).copy()
        bad = np.argwhere(low > high)
        if bad.size:
            m, t = bad[0]
            raise InvalidInputError(
                f"station {names[m]}, period {t}: price_min_per_mwh {low[m, t]:g} > "
                f"price_max_per_mwh {high[m, t]:g}"
            )
        if not math.isfinite(self.period_hours) or self.period_hours <= 0:
            raise InvalidInputError(f"period_hours must be positive, got {self.period_hours}")
        low.flags.writeable = False
        high.flags.writeable = False
        object.__setattr__(self, "station_names", names)
        object.__setattr__(self, "price_min_per_mwh", low)
        object.__setattr__(self, "price_max_per_mwh", high)
        object.__setattr__(self, "period_hours", float(self.period_hours))
        object.__setattr__(self, "periods", shape[1])

    @property
    def num_stations(self) -> int:
        return len(self.station_names)

    @property
    def num_periods(self) -> int:
        return int(self.price_min_per_mwh.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_stations, self.num_periods)

    def clip(self, price_per_mwh: FloatArray) -> FloatArray:
        """Prices projected onto the bounds."""
        return np.clip(price_per_mwh, self.price_min_per_mwh, self.price_max_per_mwh)


def as_float_array(values: ArrayLike, what: str) -> FloatArray:
    """``values`` as a finite float array, or InvalidInputError naming ``what``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{what} must be numeric: {error}") from None
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{what} must be finite, got {values!r}")
    return array


def price_matrix(pricing: CnoPricing, values: ArrayLike, what: str) -> FloatArray:
    """``values`` (scalar, per period, column or full) as a (stations, periods) array."""
    array = as_float_array(values, what)
    try:
        return np.broadcast_to(array, pricing.shape).copy()
    except ValueError:
        raise InvalidInputError(
            f"{what} has shape {array.shape}, expected (stations, periods) = {pricing.shape} "
            f"(or a scalar or one value per period)"
        ) from None


def cno_revenue_usd(
    price_per_mwh: ArrayLike,
    purchase_price_per_mwh: ArrayLike,
    load_mw: ArrayLike,
    period_hours: float,
) -> float:
    """Σ_{m,t} (α − λ)·P·Δt  (eq. 25 of seed 001), in $; arrays broadcast together."""
    price = as_float_array(price_per_mwh, "price_per_mwh")
    purchase = as_float_array(purchase_price_per_mwh, "purchase_price_per_mwh")
    load = as_float_array(load_mw, "load_mw")
    try:
        margin = np.broadcast_arrays(price - purchase, load)
    except ValueError:
        raise InvalidInputError(
            f"price {price.shape}, purchase price {purchase.shape} and load {load.shape} "
            "do not broadcast together"
        ) from None
    return float(np.sum(margin[0] * margin[1]) * period_hours)
