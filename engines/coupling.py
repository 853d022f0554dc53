"""The ADMM coupling terms on station loads, stated once: price, penalty, target, Δt and side.

Why this module exists: every operator's local step of consensus ADMM (MODELS.md §5) adds the
same augmented-Lagrangian terms to its own cost, over the station loads ``P`` (stations ×
periods, MW) it decides:

* the consuming side (traffic department, TNO: it pays λ for the energy), sign ``s = +1``:
  ``Σ_st Δt·[λ_st·P_st + (ρ/2)·(P_st − z_st)²]``;
* the supplying side (DSO: it is paid λ), sign ``s = −1``:
  ``Σ_st Δt·[−λ_st·P_st + (ρ/2)·(P_st − z_st)²]``,

with λ the consensus price ($/MWh), ρ the penalty ($/MW²h), z the other side's latest loads
(MW) and Δt the period length (h). Before this value existed each caller reconciled Δt and the
sign of λ with its engine's own convention (the OPF wanted ``−λ`` and ``Δt·ρ``, the traffic
model the rates, the fleet λ and ρ); now a :class:`CouplingTerms` is what every engine's coupled
solve accepts, and the terms give each engine the coefficients in the form it needs:

* horizon form, for the cvxpy models whose costs are $ over the horizon (the DSO's OPF, the
  TNO's fleet): ``linear_usd_per_mw`` ``Δt·(s·λ − ρ·z)``, ``quadratic_usd_per_mw2`` ``Δt·ρ/2``
  and ``constant_usd`` ``Δt·(ρ/2)·Σ z²``, whose sum over ``P`` is :meth:`CouplingTerms.cost_usd`;
* rate form, for the equilibrium models whose potentials are $/h per period (the UE and SUE
  traffic models): ``s·λ`` (:attr:`CouplingTerms.signed_price_per_mwh`), ρ and z, i.e. the
  horizon form divided by Δt, which has the same minimiser.

Values are validated when the terms are built: shapes, finiteness, ρ ≥ 0 and magnitudes within
bounds that any real negotiation stays far inside, so that nothing downstream overflows or
loses every digit (a 1e300 target once crashed the traffic engine): see the ``MAX_*`` constants.
Errors name the field, and the station and period when the terms carry station names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ptn.engines.errors import InvalidInputError

FloatArray = NDArray[np.float64]

#: |λ| bound ($/MWh): a thousand times the price caps of today's wholesale markets (ERCOT and
#: the EU day-ahead coupling cap at a few thousand per MWh), room for ADMM's early dual swings
MAX_ABS_PRICE_PER_MWH = 1e6
#: ρ bound ($/MW²h): ADMM's residual balancing doubles ρ at most once per round; from the
#: usual start of 50 that is twenty-four doublings, far beyond a useful penalty
MAX_PENALTY_PER_MW2H = 1e9
#: |z| bound (MW): a hundred gigawatts, orders of magnitude above any charging station (the
#: DSO's fixed-load dispatch refuses station loads beyond it too)
MAX_ABS_TARGET_LOAD_MW = 1e5
#: Δt bound (h): a year (leap years included)
MAX_PERIOD_HOURS = 8784.0


class CouplingSide(IntEnum):
    """Which side of the station loads an operator is; the value is the sign ``s`` of λ."""

    CONSUMER = 1
    SUPPLIER = -1


@dataclass(frozen=True)
class CouplingTerms:
    """One ADMM step's coupling: ``Σ Δt·[s·λ·P + (ρ/2)·(P − z)²]`` over stations and periods.

    ``price_per_mwh`` (λ) and ``target_load_mw`` (z) are (stations, periods) arrays,
    ``penalty_per_mw2h`` (ρ) a scalar, ``period_hours`` (Δt) the period length and ``side`` the
    sign of λ. ``stations`` optionally names the rows (public station names); engines then align
    the terms to their own station order by name (:meth:`aligned`). Bounds: ``|λ| ≤``
    :data:`MAX_ABS_PRICE_PER_MWH`, ``0 ≤ ρ ≤`` :data:`MAX_PENALTY_PER_MW2H`, ``|z| ≤``
    :data:`MAX_ABS_TARGET_LOAD_MW`, ``0 < Δt ≤`` :data:`MAX_PERIOD_HOURS`.
    """

    price_per_mwh: FloatArray
    penalty_per_mw2h: float
    target_load_mw: FloatArray
    period_hours: float
    side: CouplingSide
    stations: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.side, CouplingSide):
            try:
                object.__setattr__(self, "side", CouplingSide(self.side))
            except ValueError:
                raise InvalidInputError(f"side: expected +1 (consumer) or -1 (supplier), got "
                                        f"{self.side!r}") from None
        stations = tuple(str(name) for name in self.stations)
        object.__setattr__(self, "stations", stations)
        price = _matrix(self.price_per_mwh, "price_per_mwh")
        target = _matrix(self.target_load_mw, "target_load_mw")
        if target.shape != price.shape:
            raise InvalidInputError(f"target_load_mw: shape {target.shape} differs from "
                                    f"price_per_mwh's {price.shape} (stations, periods)")
        if stations and len(stations) != price.shape[0]:
            raise InvalidInputError(f"stations: {len(stations)} names for {price.shape[0]} rows "
                                    "of price_per_mwh")
        if len(set(stations)) != len(stations):
            raise InvalidInputError("stations: a station is named twice")
        _check_bounded(price, "price_per_mwh", "ADMM price", MAX_ABS_PRICE_PER_MWH, "$/MWh",
                       stations)
        _check_bounded(target, "target_load_mw", "ADMM target", MAX_ABS_TARGET_LOAD_MW, "MW",
                       stations)
        penalty = _scalar(self.penalty_per_mw2h, "penalty_per_mw2h")
        if not (np.isfinite(penalty) and 0.0 <= penalty <= MAX_PENALTY_PER_MW2H):
            raise InvalidInputError(f"penalty_per_mw2h: ADMM penalty must be >= 0 and at most "
                                    f"{MAX_PENALTY_PER_MW2H:g} $/MW²h, got {penalty}")
        hours = _scalar(self.period_hours, "period_hours")
        if not (np.isfinite(hours) and 0.0 < hours <= MAX_PERIOD_HOURS):
            raise InvalidInputError(f"period_hours: must be positive and at most "
                                    f"{MAX_PERIOD_HOURS:g} h, got {hours}")
        price.setflags(write=False)
        target.setflags(write=False)
        object.__setattr__(self, "price_per_mwh", price)
        object.__setattr__(self, "target_load_mw", target)
        object.__setattr__(self, "penalty_per_mw2h", penalty)
        object.__setattr__(self, "period_hours", hours)

    # ------------------------------------------------------------------ construction
    @classmethod
    def consumer(cls, price_per_mwh: ArrayLike, penalty_per_mw2h: float,
                 target_load_mw: ArrayLike, period_hours: float,
                 stations: Sequence[str] = ()) -> CouplingTerms:
        """The consuming side's terms ``Σ Δt·[λ·P + (ρ/2)·(P − z)²]`` (traffic, TNO)."""
        return cls.of_side(CouplingSide.CONSUMER, price_per_mwh, penalty_per_mw2h,
                           target_load_mw, period_hours, stations)

    @classmethod
    def supplier(cls, price_per_mwh: ArrayLike, penalty_per_mw2h: float,
                 target_load_mw: ArrayLike, period_hours: float,
                 stations: Sequence[str] = ()) -> CouplingTerms:
        """The supplying side's terms ``Σ Δt·[−λ·P + (ρ/2)·(P − z)²]`` (DSO)."""
        return cls.of_side(CouplingSide.SUPPLIER, price_per_mwh, penalty_per_mw2h,
                           target_load_mw, period_hours, stations)

    @classmethod
    def of_side(cls, side: CouplingSide, price_per_mwh: ArrayLike, penalty_per_mw2h: float,
                target_load_mw: ArrayLike, period_hours: float,
                stations: Sequence[str] = ()) -> CouplingTerms:
        """The terms of ``side`` from array-likes."""
        return cls(np.asarray(price_per_mwh, dtype=np.float64), penalty_per_mw2h,
                   np.asarray(target_load_mw, dtype=np.float64), period_hours, side,
                   tuple(stations))

    @classmethod
    def zero(cls, stations: int | Sequence[str], periods: int, period_hours: float,
             side: CouplingSide) -> CouplingTerms:
        """No coupling (λ = 0, ρ = 0, z = 0): an operator's plan alone."""
        names = () if isinstance(stations, int) else tuple(stations)
        zeros = np.zeros((stations if isinstance(stations, int) else len(names), periods))
        return cls.of_side(side, zeros, 0.0, zeros, period_hours, names)

    # ------------------------------------------------------------------ shape and names
    @property
    def shape(self) -> tuple[int, int]:
        rows, periods = self.price_per_mwh.shape
        return int(rows), int(periods)

    @property
    def periods(self) -> int:
        return self.shape[1]

    def aligned(self, stations: Sequence[str], periods: int, who: str) -> CouplingTerms:
        """These terms in the row order of ``stations`` (for ``who``, named in errors).

        Terms without names must already have one row per station; named terms are reordered
        by name and must name exactly ``stations``.
        """
        names = tuple(stations)
        if self.periods != periods:
            raise InvalidInputError(f"{who}: the coupling terms have {self.periods} periods, "
                                    f"expected {periods}")
        if not self.stations:
            if self.shape[0] != len(names):
                raise InvalidInputError(f"{who}: the coupling terms have {self.shape[0]} "
                                        f"stations, expected {len(names)} ({', '.join(names)})")
            return CouplingTerms(self.price_per_mwh, self.penalty_per_mw2h, self.target_load_mw,
                                 self.period_hours, self.side, names)
        if self.stations == names:
            return self
        unknown = [name for name in self.stations if name not in names]
        if unknown:
            raise InvalidInputError(f"{who}: unknown station {unknown[0]} in the coupling terms")
        missing = [name for name in names if name not in self.stations]
        if missing:
            raise InvalidInputError(f"{who}: station {missing[0]} is missing from the coupling "
                                    "terms")
        rows = [self.stations.index(name) for name in names]
        return CouplingTerms(self.price_per_mwh[rows], self.penalty_per_mw2h,
                             self.target_load_mw[rows], self.period_hours, self.side, names)

    def require_side(self, side: CouplingSide, who: str) -> None:
        """Refuse terms built for the other side (a sign error in the making)."""
        if self.side != side:
            raise InvalidInputError(f"{who} is the {side.name.lower()} side of the coupling "
                                    f"(sign {int(side):+d}), but the terms are for the "
                                    f"{self.side.name.lower()} side")

    def require_period_hours(self, period_hours: float, who: str) -> None:
        """Refuse terms for another period length than the engine's own."""
        if not np.isclose(self.period_hours, period_hours, rtol=1e-12, atol=0.0):
            raise InvalidInputError(f"{who}: the coupling terms are for periods of "
                                    f"{self.period_hours:g} h, its periods last "
                                    f"{period_hours:g} h")

    # ------------------------------------------------------------------ coefficients
    @property
    def sign(self) -> int:
        return int(self.side)

    @property
    def signed_price_per_mwh(self) -> FloatArray:
        """``s·λ``: what this side pays per MWh (negative: it is paid)."""
        return self.sign * self.price_per_mwh

    @property
    def linear_usd_per_mw(self) -> FloatArray:
        """Horizon form: the coefficient ``Δt·(s·λ − ρ·z)`` of ``P`` ($ per MW)."""
        return self.period_hours * (self.signed_price_per_mwh
                                    - self.penalty_per_mw2h * self.target_load_mw)

    @property
    def quadratic_usd_per_mw2(self) -> float:
        """Horizon form: the coefficient ``Δt·ρ/2`` of ``Σ P²`` ($ per MW²)."""
        return 0.5 * self.period_hours * self.penalty_per_mw2h

    @property
    def constant_usd(self) -> float:
        """Horizon form: the constant ``Δt·(ρ/2)·Σ z²`` ($)."""
        return self.quadratic_usd_per_mw2 * float(np.sum(self.target_load_mw**2))

    def cost_usd(self, load_mw: ArrayLike) -> float:
        """The terms' value at loads ``P`` ($ over the horizon)."""
        load = np.asarray(load_mw, dtype=np.float64)
        if load.shape != self.shape:
            raise InvalidInputError(f"load_mw: shape {load.shape}, the coupling terms have "
                                    f"{self.shape}")
        return float(self.period_hours * np.sum(
            self.signed_price_per_mwh * load
            + 0.5 * self.penalty_per_mw2h * (load - self.target_load_mw) ** 2))

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (:meth:`from_json` reads it back exactly)."""
        return {"price_per_mwh": self.price_per_mwh.tolist(),
                "penalty_per_mw2h": self.penalty_per_mw2h,
                "target_load_mw": self.target_load_mw.tolist(),
                "period_hours": self.period_hours, "side": int(self.side),
                "stations": list(self.stations)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CouplingTerms:
        """The terms :meth:`to_json` wrote (validated again)."""
        try:
            price = np.asarray(data["price_per_mwh"], dtype=np.float64)
            target = np.asarray(data["target_load_mw"], dtype=np.float64)
            penalty, hours = float(data["penalty_per_mw2h"]), float(data["period_hours"])
            side = CouplingSide(int(data["side"]))
            stations = tuple(str(name) for name in data.get("stations", ()))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"coupling terms: unreadable ({error!r})") from None
        return cls(price, penalty, target, hours, side, stations)


def _matrix(values: ArrayLike, what: str) -> FloatArray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{what}: expected numbers ({error})") from None
    if array.ndim != 2:
        raise InvalidInputError(f"{what}: needs shape (stations, periods), got {array.shape}")
    return array


def _scalar(value: object, what: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what}: expected a number, got {value!r}") from None


def _check_bounded(array: FloatArray, what: str, label: str, bound: float, unit: str,
                   stations: tuple[str, ...]) -> None:
    """Refuse non-finite values and values beyond ``±bound``, naming the station and period."""
    nonfinite = np.argwhere(~np.isfinite(array))
    beyond = nonfinite if nonfinite.size else np.argwhere(np.abs(array) > bound)
    if not beyond.size:
        return
    row, period = (int(v) for v in beyond[0])
    problem = "is not finite" if nonfinite.size \
        else f"is {array[row, period]:g} {unit}, beyond ±{bound:g} {unit}"
    where = f"station {stations[row]}" if stations else f"station row {row}"
    raise InvalidInputError(f"{what}: {label} at {where} in period {period} {problem}")
