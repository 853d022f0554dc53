"""Distributed energy resources and the multi-period case the DSO optimizes.

The DER models are those of seed 002 (MODELS.md §2): micro-turbines with a quadratic cost and
ramp limits, storage with efficiencies, SOC bounds and a cyclic end state, PV and wind with an
available profile, curtailment and an apparent-power limit, and demand response that shifts
load in time without changing the energy served, paid an incentive per MWh shifted.

A :class:`DsoCase` gathers everything one DSO holds for one horizon: its feeders (several may
share one operator), the loads' daily shape, the DER, the EV charging points that couple it to
traffic, and the upstream price. Units outside the model: MW, MVAr, MWh, $/MWh, hours. DER and
charging points refer to buses by the feeder's external bus label.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.feeder import Feeder

FloatArray = NDArray[np.float64]

#: Price ($/MWh) of power bought at a supply point whose case carries no cost data
#: (pandapower's CIGRE and Kerber benchmark feeders, a MATPOWER case without gencost, or a
#: shipped cost of zero), when the case sets no upstream prices of its own. With nothing
#: priced, losses are free and the SOC relaxation need not be tight (the optimizer may "burn"
#: power as fictitious losses); exactness needs an objective strictly increasing in the power
#: bought (Farivar & Low 2013; Gan, Li, Topcu & Low 2015), which any positive price gives. The
#: value is of the order of wholesale day-ahead energy prices (tens of $/MWh) and of the
#: 20 $/MWh MATPOWER ships for its radial cases' substations; on a feeder without DER the
#: dispatch (loads fixed, losses minimized) does not depend on it at all, only the objective
#: does. ``ptn opf --tariff-per-mwh`` and :attr:`DsoCase.fallback_tariff_per_mwh` change it.
DEFAULT_TARIFF_PER_MWH = 50.0


@dataclass(frozen=True)
class MicroTurbine:
    """Dispatchable generator: cost ``a·p² + b·p`` $/h (p in MW), ramp limit in MW/h."""

    name: str
    bus: int
    p_max_mw: float
    cost_quadratic_per_mw2h: float = 0.0
    cost_linear_per_mwh: float = 0.0
    p_min_mw: float = 0.0
    q_min_mvar: float = 0.0
    q_max_mvar: float = 0.0
    ramp_mw_per_h: float = np.inf
    feeder: str | None = None


@dataclass(frozen=True)
class Storage:
    """Battery: SOC in fractions of ``energy_mwh``; end SOC equals ``soc_initial``."""

    name: str
    bus: int
    energy_mwh: float
    charge_max_mw: float
    discharge_max_mw: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc_min: float = 0.2
    soc_max: float = 0.8
    soc_initial: float = 0.5
    feeder: str | None = None


@dataclass(frozen=True)
class Renewable:
    """PV or wind unit: available power ``rated_mw × profile[t]``, curtailable, ``p² + q² ≤ s²``.

    ``profile`` holds one value per period in per unit of ``rated_mw``; ``s_max_mva`` defaults to
    ``rated_mw`` (an inverter sized to the panel). Reactive power is free within the inverter's
    apparent-power limit when ``reactive_support`` is set, else zero.
    """

    name: str
    bus: int
    kind: str
    rated_mw: float
    profile: FloatArray
    s_max_mva: float | None = None
    curtailable: bool = True
    reactive_support: bool = True
    feeder: str | None = None

    @property
    def apparent_limit_mva(self) -> float:
        return self.rated_mw if self.s_max_mva is None else self.s_max_mva

    def available_mw(self) -> FloatArray:
        return self.rated_mw * np.asarray(self.profile, dtype=np.float64)


@dataclass(frozen=True)
class DemandResponse:
    """Shiftable load at a bus: up to ``max_shift_fraction`` of its load moved per period.

    The energy served over the horizon is unchanged (Σ_t shift_t·Δt = 0); the DSO pays
    ``incentive_per_mwh`` on the energy shifted away from its period. Reactive load follows the
    active load at the bus's power factor.
    """

    name: str
    bus: int
    max_shift_fraction: float = 0.2
    incentive_per_mwh: float = 10.0
    feeder: str | None = None


@dataclass(frozen=True)
class ChargingPoint:
    """A bus where EV charging load (the coupling input, MW per period) is drawn."""

    name: str
    bus: int
    feeder: str | None = None
    max_mw: float = np.inf


@dataclass(frozen=True)
class BusLoadProfile:
    """One bus's own load shape: its base load times ``multipliers[t]`` in period ``t``.

    Replaces the case's ``load_profile`` at that bus (active and reactive load alike); the
    buses without one follow ``load_profile``. ``bus`` is the feeder's external label.
    """

    bus: int
    multipliers: FloatArray
    feeder: str | None = None


@dataclass(frozen=True)
class DsoCase:
    """One DSO's feeders, DER, charging points, load shape and upstream price over a horizon.

    ``load_profile`` scales every feeder's base loads per period, but at the buses that
    ``bus_load_profiles`` gives a shape of their own (:meth:`load_multipliers`: the
    ``(buses, periods)`` multipliers of a feeder); ``upstream_price_per_mwh``
    (one per period) replaces the slack's shipped linear cost when given (the slack's quadratic
    and constant terms are kept). ``loss_price_per_mwh`` adds a price on losses, as seed 002's
    objective does. ``fallback_tariff_per_mwh`` prices the purchases of a feeder whose case
    carries no cost for its supply point when no upstream prices are given
    (:meth:`upstream_prices`).
    """

    feeders: tuple[Feeder, ...]
    periods: int = 1
    period_hours: float = 1.0
    load_profile: FloatArray = field(default_factory=lambda: np.ones(1))
    micro_turbines: tuple[MicroTurbine, ...] = ()
    storage: tuple[Storage, ...] = ()
    renewables: tuple[Renewable, ...] = ()
    demand_response: tuple[DemandResponse, ...] = ()
    charging_points: tuple[ChargingPoint, ...] = ()
    upstream_price_per_mwh: FloatArray | None = None
    loss_price_per_mwh: float = 0.0
    fallback_tariff_per_mwh: float = DEFAULT_TARIFF_PER_MWH
    bus_load_profiles: tuple[BusLoadProfile, ...] = ()

    def own_load_profiles(self, position: int) -> dict[int, FloatArray]:
        """The feeder at ``position``'s buses with a load shape of their own: bus position →
        multipliers per period, in bus order."""
        own: dict[int, FloatArray] = {}
        for profile in self.bus_load_profiles:
            where, bus = self.locate(profile.feeder, int(profile.bus),
                                     f"bus_load_profile of bus {profile.bus}")
            if where == position:
                own[bus] = np.asarray(profile.multipliers, dtype=np.float64)
        return dict(sorted(own.items()))

    def load_multipliers(self, position: int) -> FloatArray:
        """``(buses, periods)``: the multiplier of each bus's base load (active and reactive)
        per period on the feeder at ``position``: ``load_profile`` on every bus, replaced by a
        bus's own shape where ``bus_load_profiles`` gives one."""
        profile = np.asarray(self.load_profile, dtype=np.float64)
        multipliers = np.tile(profile, (self.feeders[position].num_buses, 1))
        for bus, values in self.own_load_profiles(position).items():
            multipliers[bus] = values
        return multipliers

    def upstream_prices(self) -> tuple[tuple[FloatArray, ...], dict[str, str]]:
        """Per feeder, the upstream price per period ($/MWh) its OPF starts from, and notes (by
        feeder name) saying where prices come from that the case did not state itself.

        The case's ``upstream_price_per_mwh`` when given; else the feeder's shipped linear
        cost; else, for a feeder whose case has no cost data for its supply point
        (``upstream_cost.has_cost_data`` False) or a shipped cost of zero with no loss price
        (nothing in the objective would price purchases or losses), the
        ``fallback_tariff_per_mwh`` (see :data:`DEFAULT_TARIFF_PER_MWH`). Every formulation
        (DistFlow-SOC, LinDistFlow) starts from these, so they solve the same problem.
        """
        prices: list[FloatArray] = []
        notes: dict[str, str] = {}
        tariff = self.fallback_tariff_per_mwh
        default = " default" if tariff == DEFAULT_TARIFF_PER_MWH else ""
        for feeder in self.feeders:
            cost = feeder.upstream_cost
            if self.upstream_price_per_mwh is not None:
                prices.append(np.asarray(self.upstream_price_per_mwh, dtype=np.float64).copy())
                if not cost.has_cost_data:
                    notes[feeder.name] = (f"{feeder.name}: no cost data; purchases priced at "
                                          "the case's upstream prices (mean "
                                          f"{float(np.mean(prices[-1])):.4g} $/MWh)")
                continue
            unpriced = cost.linear_per_mwh == 0.0 and cost.quadratic_per_mw2h == 0.0 \
                and self.loss_price_per_mwh == 0.0
            if cost.has_cost_data and not unpriced:
                prices.append(np.full(self.periods, cost.linear_per_mwh))
                continue
            reason = "no cost data" if not cost.has_cost_data else "a shipped cost of zero"
            prices.append(np.full(self.periods, tariff))
            notes[feeder.name] = (f"{feeder.name}: {reason}; purchases priced at the{default} "
                                  f"tariff {tariff:g} $/MWh")
        return tuple(prices), notes

    def with_voltage_band(
        self, v_min_pu: float | None = None, v_max_pu: float | None = None
    ) -> DsoCase:
        """The same case with one voltage band (p.u.) on every feeder
        (:meth:`~ptn.engines.power.feeder.Feeder.with_voltage_band`; ``None`` keeps that side)."""
        return replace(self, feeders=tuple(feeder.with_voltage_band(v_min_pu, v_max_pu)
                                           for feeder in self.feeders))

    def feeder_position(self, name: str | None, what: str) -> int:
        """Index of the feeder called ``name`` (``None``: the only feeder)."""
        if name is None:
            if len(self.feeders) != 1:
                raise InvalidInputError(
                    f"{what}: the DSO has {len(self.feeders)} feeders; name one with 'feeder'"
                )
            return 0
        for position, feeder in enumerate(self.feeders):
            if feeder.name == name:
                return position
        names = ", ".join(f.name for f in self.feeders)
        raise InvalidInputError(f"{what}: unknown feeder {name!r} (feeders: {names})")

    def locate(self, feeder: str | None, bus: int, what: str) -> tuple[int, int]:
        """(feeder position, bus position) of a device, raising naming the device."""
        position = self.feeder_position(feeder, what)
        model = self.feeders[position]
        matches = np.flatnonzero(model.bus_ids == bus)
        if matches.size == 0:
            raise InvalidInputError(f"{what}: feeder {model.name} has no bus {bus}")
        if int(matches[0]) == model.slack_bus:
            raise InvalidInputError(f"{what}: bus {bus} is the slack bus of feeder {model.name}")
        return position, int(matches[0])

    def demand_response_base_mw(self) -> tuple[FloatArray, FloatArray]:
        """Per demand-response device, its bus's base load (MW) and reactive-to-active ratio.

        Shifts move reactive load with the active load at the bus's power factor.
        """
        base = np.empty(len(self.demand_response))
        q_per_p = np.empty(len(self.demand_response))
        for k, device in enumerate(self.demand_response):
            position, bus = self.locate(device.feeder, device.bus,
                                        f"demand_response {device.name!r}")
            feeder = self.feeders[position]
            base[k] = feeder.load_p_mw[bus]
            q_per_p[k] = feeder.load_q_mvar[bus] / base[k] if base[k] > 0 else 0.0
        return base, q_per_p

    def demand_response_limits_mw(self) -> FloatArray:
        """Largest shift per device and period (MW): the fraction of the bus's load then (its
        base load times its multiplier, :meth:`load_multipliers`)."""
        base, _ = self.demand_response_base_mw()
        fraction = np.array([d.max_shift_fraction for d in self.demand_response])
        return (fraction * base)[:, None] * self._demand_response_shapes()

    def demand_response_load_mw(self) -> FloatArray:
        """Per demand-response device and period, its bus's load (MW): the base load times the
        bus's multiplier (:meth:`load_multipliers`)."""
        base, _ = self.demand_response_base_mw()
        return base[:, None] * self._demand_response_shapes()

    def _demand_response_shapes(self) -> FloatArray:
        """Per device, its bus's load multiplier per period."""
        profile = np.asarray(self.load_profile)
        shapes = np.empty((len(self.demand_response), profile.size))
        own = {position: self.own_load_profiles(position)
               for position in range(len(self.feeders))} if self.bus_load_profiles else {}
        for k, device in enumerate(self.demand_response):
            position, bus = self.locate(device.feeder, device.bus,
                                        f"demand_response {device.name!r}")
            shapes[k] = own.get(position, {}).get(bus, profile)
        return shapes


def validate_case(case: DsoCase) -> None:
    """Check shapes, bounds and references of a case; raise naming the device and field."""
    T = case.periods
    if T < 1:
        raise InvalidInputError(f"periods must be at least 1, got {T}")
    if not (np.isfinite(case.period_hours) and case.period_hours > 0):
        raise InvalidInputError(f"period_hours must be positive, got {case.period_hours}")
    if not case.feeders:
        raise InvalidInputError("a DSO case needs at least one feeder")
    names = [f.name for f in case.feeders]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"feeder names must be unique, got {names}")
    _check_series("load_profile", case.load_profile, T, nonnegative=True)
    tariff = case.fallback_tariff_per_mwh
    if isinstance(tariff, bool) or not isinstance(tariff, int | float | np.floating) \
            or not (np.isfinite(tariff) and tariff > 0):
        raise InvalidInputError(
            f"fallback_tariff_per_mwh must be a finite positive price ($/MWh), got {tariff!r}"
        )
    if case.upstream_price_per_mwh is not None:
        _check_series("upstream_price_per_mwh", case.upstream_price_per_mwh, T, nonnegative=False)
    seen: set[str] = set()
    devices: list[tuple[str, object]] = [
        *(("micro_turbine", d) for d in case.micro_turbines),
        *(("storage", d) for d in case.storage),
        *(("renewable", d) for d in case.renewables),
        *(("demand_response", d) for d in case.demand_response),
        *(("charging_point", d) for d in case.charging_points),
    ]
    for kind, device in devices:
        name = getattr(device, "name")  # noqa: B009 - every device has a name
        what = f"{kind} {name!r}"
        if name in seen:
            raise InvalidInputError(f"{what}: the name is used twice")
        seen.add(name)
        case.locate(getattr(device, "feeder"), int(getattr(device, "bus")), what)  # noqa: B009
    for mt in case.micro_turbines:
        what = f"micro_turbine {mt.name!r}"
        _require(mt.p_min_mw <= mt.p_max_mw, what, "p_min_mw must not exceed p_max_mw")
        _require(mt.q_min_mvar <= mt.q_max_mvar, what, "q_min_mvar must not exceed q_max_mvar")
        _require(mt.cost_quadratic_per_mw2h >= 0, what, "cost_quadratic_per_mw2h must be >= 0")
        _require(mt.ramp_mw_per_h > 0, what, "ramp_mw_per_h must be positive")
    for st in case.storage:
        what = f"storage {st.name!r}"
        _require(st.energy_mwh > 0, what, "energy_mwh must be positive")
        _require(st.charge_max_mw >= 0 and st.discharge_max_mw >= 0, what,
                 "charge_max_mw and discharge_max_mw must be >= 0")
        _require(0 < st.charge_efficiency <= 1 and 0 < st.discharge_efficiency <= 1, what,
                 "efficiencies must be in (0, 1]")
        _require(0 <= st.soc_min <= st.soc_initial <= st.soc_max <= 1, what,
                 "need 0 <= soc_min <= soc_initial <= soc_max <= 1")
    for unit in case.renewables:
        what = f"renewable {unit.name!r}"
        _require(unit.kind in ("pv", "wind"), what,
                 f"kind must be 'pv' or 'wind', got {unit.kind!r}")
        _require(unit.rated_mw >= 0, what, "rated_mw must be >= 0")
        _require(unit.apparent_limit_mva >= 0, what, "s_max_mva must be >= 0")
        _check_series(f"{what} profile", np.asarray(unit.profile), T, nonnegative=True)
    dr_base_mw, _ = case.demand_response_base_mw()
    for dr, base_mw in zip(case.demand_response, dr_base_mw, strict=True):
        what = f"demand_response {dr.name!r}"
        _require(0 <= dr.max_shift_fraction <= 1, what, "max_shift_fraction must be in [0, 1]")
        _require(dr.incentive_per_mwh >= 0, what, "incentive_per_mwh must be >= 0")
        _require(base_mw > 0, what, f"bus {dr.bus} has no load to shift")
    for point in case.charging_points:
        _require(point.max_mw > 0, f"charging_point {point.name!r}", "max_mw must be positive")
    _validate_bus_load_profiles(case)


def _validate_bus_load_profiles(case: DsoCase) -> None:
    """Each per-bus load shape on an existing bus with load, once, one finite non-negative
    multiplier per period."""
    seen: set[tuple[int, int]] = set()
    for profile in case.bus_load_profiles:
        what = f"bus_load_profile of bus {profile.bus}" + (
            f" on feeder {profile.feeder}" if profile.feeder is not None else "")
        position, bus = case.locate(profile.feeder, int(profile.bus), what)
        _require((position, bus) not in seen, what, "the bus is given twice")
        seen.add((position, bus))
        feeder = case.feeders[position]
        _require(feeder.load_p_mw[bus] != 0 or feeder.load_q_mvar[bus] != 0, what,
                 "the bus has no load to scale")
        _check_series(what, np.asarray(profile.multipliers), case.periods, nonnegative=True)


def _require(condition: bool, what: str, message: str) -> None:
    if not condition:
        raise InvalidInputError(f"{what}: {message}")


def _check_series(what: str, values: FloatArray, periods: int, *, nonnegative: bool) -> None:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (periods,):
        raise InvalidInputError(f"{what}: needs {periods} values (one per period), got "
                                f"{values.size}")
    bad = np.flatnonzero(~np.isfinite(values) | ((values < 0) if nonnegative else False))
    if bad.size:
        raise InvalidInputError(f"{what}: invalid value {values[bad[0]]!r} in period {bad[0]}")
