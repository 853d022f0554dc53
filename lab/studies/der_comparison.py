"""Seed 002's day as the paper runs it, with its DER and without them.

Why this module exists: seed 002 (Ma et al. 2024) claims that its DER (micro-turbine, storage,
PV, wind, demand response) lower the feeder's purchases from the upstream grid, the
peak-to-valley difference of the grid's load curve and the operating cost. Checking that needs
the same day dispatched without the DER. The paper runs its day one way: the SUE traffic gives
the charging load; the load-following tariff of eq. 22 is set from the equivalent load (base
plus charging; :mod:`ptn.engines.power.dynamic_tariff`); the feeder is dispatched against it
(eq. 21's ρ). The drivers pay the same tariff for charging, so the tariff they meet is the fixed
point tariff → SUE → charging → equivalent load → tariff.

This module computes that operation with the experimenter's full information (MODELS.md §0), then
dispatches its charging load on the feeder with the DER and without them. Without DER the
feeder is first held to the scenario's voltage band; when it cannot serve the day within it,
the dispatch is repeated with the lower limit relaxed to :data:`RELAXED_V_MIN_PU`, so the
report can say how far below the band the voltage falls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ptn.engines.power.der import DsoCase
from ptn.engines.power.dynamic_tariff import (
    CLASS_NAMES,
    PEAK,
    VALLEY,
    TariffFixedPoint,
    TariffLevels,
    tariff_fixed_point,
)
from ptn.engines.power.result import OpfResult
from ptn.engines.traffic.sue_periods import SuePeriodsProblem
from ptn.figures import new_figure, save_figure
from ptn.lab.studies.dispatch import voltage_by_bus
from ptn.services.dso.config import DsoConfig
from ptn.services.dso.model import DsoModel

FloatArray = NDArray[np.float64]

#: lower voltage limit (p.u.) of the without-DER dispatch when the scenario's band is infeasible
#: (choice: low enough for case33bw's unsupported evening peak)
RELAXED_V_MIN_PU = 0.8


@dataclass(frozen=True)
class FeederDay:
    """One dispatch of the paper's day: what the upstream grid supplies and what it costs.

    ``upstream_mw`` (periods,): purchases from the upstream grid; ``purchase_mwh`` their energy;
    ``peak_to_valley_mw`` their largest minus smallest period; ``cost`` the DSO's objective
    (purchases at the tariff, micro-turbine fuel, demand-response incentives); ``v_min_pu``
    the band the dispatch was held to and ``voltage_min_pu`` the lowest voltage it reached.
    """

    label: str
    status: str
    message: str
    upstream_mw: FloatArray
    purchase_mwh: float
    peak_to_valley_mw: float
    cost: float
    voltage_min_pu: float
    v_min_pu: float
    result: OpfResult

    def row(self) -> dict[str, Any]:
        return {"case": self.label, "status": self.status,
                "upstream_purchase_mwh": self.purchase_mwh,
                "upstream_peak_to_valley_mw": self.peak_to_valley_mw, "cost": self.cost,
                "voltage_min_pu": self.voltage_min_pu, "voltage_band_min_pu": self.v_min_pu}


@dataclass(frozen=True)
class DerComparison:
    """The paper's operation (:class:`TariffFixedPoint`) and its day with and without DER."""

    tariff: TariffFixedPoint
    base_load_mw: FloatArray
    station_load_mw: FloatArray  # (stations, periods), the scenario's public order
    with_der: FeederDay
    without_der: FeederDay


def base_load_mw(case: DsoCase) -> FloatArray:
    """The feeder's base load per period (MW): every feeder's bus loads times the day's shape
    (each bus's own where the case gives one), eq. 22's ``P_D``."""
    if not case.bus_load_profiles:
        total = sum(feeder.total_load_mw for feeder in case.feeders)
        return total * np.asarray(case.load_profile, dtype=np.float64)
    by_feeder = [feeder.load_p_mw @ case.load_multipliers(position)
                 for position, feeder in enumerate(case.feeders)]
    return np.asarray(np.sum(by_feeder, axis=0), dtype=np.float64)


def without_der(case: DsoCase) -> DsoCase:
    """The same feeders, loads, charging points and prices, with no DER."""
    return replace(case, micro_turbines=(), storage=(), renewables=(), demand_response=())


def _feeder_day(label: str, config: DsoConfig, station_load_mw: FloatArray,
                period_hours: float) -> FeederDay:
    result = DsoModel(config).dispatch_fixed(station_load_mw)
    v_min = min(float(np.min(f.v_min_pu)) for f in config.case.feeders)
    if not result.status.has_solution:
        nan = float("nan")
        return FeederDay(label, str(result.status), result.message, np.full(config.case.periods,
                         nan), nan, nan, nan, nan, v_min, result)
    upstream = result.import_mw
    return FeederDay(label, str(result.status), result.message, upstream,
                     float(upstream.sum() * period_hours), float(upstream.max() - upstream.min()),
                     float(result.objective), float(voltage_by_bus(result)[1].min()), v_min,
                     result)


def compare_der(config: DsoConfig, problem: SuePeriodsProblem, station_order: list[int],
                sigma: float, levels: TariffLevels) -> DerComparison:
    """The paper's day under the load-following tariff, dispatched with and without DER.

    ``station_order[k]``: the traffic model's index of the scenario's k-th public station.
    """
    case = config.case
    base = base_load_mw(case)
    stations = problem.spec.charging.num_stations

    def response(tariff: FloatArray) -> FloatArray:
        return problem.solve(np.tile(tariff, (stations, 1))).station_load_mw

    fixed_point = tariff_fixed_point(response, base, sigma, levels)
    loads = np.asarray(fixed_point.charging_load_mw)[station_order]
    priced = replace(case, upstream_price_per_mwh=fixed_point.tariff_per_mwh)
    hours = case.period_hours
    with_der = _feeder_day("with DER", replace(config, case=priced), loads, hours)
    bare = replace(config, case=without_der(priced))
    no_der = _feeder_day("without DER", bare, loads, hours)
    if not no_der.result.status.has_solution:
        relaxed = replace(bare, case=bare.case.with_voltage_band(v_min_pu=RELAXED_V_MIN_PU))
        no_der = _feeder_day("without DER", relaxed, loads, hours)
    return DerComparison(fixed_point, base, loads, with_der, no_der)


def comparison_rows(comparison: DerComparison) -> list[dict[str, Any]]:
    """Per period: the tariff and its class, the loads, and the purchases with and without
    DER."""
    fixed = comparison.tariff
    return [{"period": t, "tariff_per_mwh": float(fixed.tariff_per_mwh[t]),
             "tariff_class": CLASS_NAMES[int(fixed.classes[t])],
             "base_load_mw": float(comparison.base_load_mw[t]),
             "charging_mw": float(comparison.station_load_mw[:, t].sum()),
             "equivalent_load_mw": float(fixed.equivalent_load_mw[t]),
             "upstream_with_der_mw": float(comparison.with_der.upstream_mw[t]),
             "upstream_without_der_mw": float(comparison.without_der.upstream_mw[t])}
            for t in range(fixed.classes.size)]


def plot_der_comparison(comparison: DerComparison, period_hours: float, path: Path) -> Path:
    """The grid's load curve (upstream purchases) before and after the DER, over the
    equivalent load, with the load-following tariff's peak and valley periods shaded."""
    figure, axes = new_figure()
    fixed = comparison.tariff
    periods = fixed.classes.size
    edges = np.arange(periods + 1, dtype=np.float64) * period_hours
    for t, label in enumerate(fixed.classes):
        if label in (PEAK, VALLEY):
            axes.axvspan(edges[t], edges[t + 1], color="mistyrose" if label == PEAK
                         else "aliceblue", zorder=0)

    def step(values: FloatArray, **style: Any) -> None:
        axes.step(edges, np.append(values, values[-1]), where="post", **style)

    step(fixed.equivalent_load_mw, color="grey", linestyle="--",
         label="equivalent load (base + charging)")
    step(comparison.without_der.upstream_mw, color="crimson",
         label=f"purchases without DER ({comparison.without_der.purchase_mwh:.1f} MWh)")
    step(comparison.with_der.upstream_mw, color="teal",
         label=f"purchases with DER ({comparison.with_der.purchase_mwh:.1f} MWh)")
    axes.set_xlabel("hour (shaded: tariff peak red, valley blue)")
    axes.set_ylabel("MW")
    axes.set_title("upstream purchases before and after the DER (load-following tariff)")
    axes.legend(fontsize=7)
    return save_figure(figure, path)
