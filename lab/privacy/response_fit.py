"""Attack A: the DSO reconstructs the traffic department's station load response from ADMM.

Why this module exists: the traffic department's private data (its road network, OD demand,
value of time, EV share) never cross, but each ADMM round is one exact point of its station
load response (:mod:`ptn.lab.privacy.views`: the step answers the effective price
``π^k = λ^{k−1} + ρ^k (P_a^k − P_b^{k−1})``, which the DSO can compute). Fitting a response model
to those points recovers, without the private model, what a DSO would pay to know: the hourly
EV charging demand at each station at given prices, and how it reacts to price.

The model (ordinary least squares per station and period, Greene, *Econometric Analysis*, §3):
``L_st(p) = a_st + b_st·p_st``. A station-period whose observed prices barely moved (spread
below ``min_price_spread_per_mwh``) takes the pooled elasticity of the others (one relative
slope fitted to all well-observed station-periods), ``b_st = e·L̄_st / p̄_st``. Estimates: the
load at a reference price ``p*`` (default: the agreed consensus price) and each station's
own-price elasticity there: the relative change of its daily energy when all its prices rise by
one per cent, ``Σ_t b_st p*_st / Σ_t L̂_st``. (The total EV demand is fixed in the traffic
models: prices move charging between stations and hours, so only own-price elasticities say
anything.) The points are the ADMM rounds only by default: the baseline's flat tariff moves
every price at once, far from the rounds, and its point biases the slopes (on the default
scenario at 4 periods the elasticity errors rise from ~20 % to ~80 %).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ptn.coordinator.outcome import FloatArray
from ptn.lab.privacy.result import AttackResult, relative_error
from ptn.lab.privacy.views import AdmmView

ATTACK = "admm-load-response"
#: station-periods whose observed prices spread less than this take the pooled elasticity
MIN_PRICE_SPREAD_PER_MWH = 1e-6


@dataclass(frozen=True)
class ResponseModel:
    """A fitted linear load response ``L = mean_load + slope·(p − mean_price)`` per station and
    period (arrays (stations, periods); slope in MW per $/MWh), and the pooled elasticity."""

    mean_price_per_mwh: FloatArray
    mean_load_mw: FloatArray
    slope_mw_per_usd_mwh: FloatArray
    pooled_elasticity: float
    pooled: FloatArray  # where the pooled elasticity stands in (bool)

    def load_at(self, price_per_mwh: FloatArray) -> FloatArray:
        """The predicted station loads (MW) at ``price_per_mwh``."""
        return self.mean_load_mw + self.slope_mw_per_usd_mwh * (
            np.asarray(price_per_mwh, dtype=np.float64) - self.mean_price_per_mwh)

    def elasticity_at(self, price_per_mwh: FloatArray) -> FloatArray:
        """Per station, d log(daily energy) / d log(its prices) for a uniform relative change
        of its prices in every period (stations,)."""
        price = np.asarray(price_per_mwh, dtype=np.float64)
        daily = np.sum(self.load_at(price), axis=1)
        change = np.sum(self.slope_mw_per_usd_mwh * price, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(daily != 0, change / daily, np.nan))


def fit_response(prices: FloatArray, loads: FloatArray, *,
                 min_price_spread_per_mwh: float = MIN_PRICE_SPREAD_PER_MWH) -> ResponseModel:
    """Least squares of load on price per station and period over the observations
    ((observations, stations, periods) each)."""
    x = np.asarray(prices, dtype=np.float64)
    y = np.asarray(loads, dtype=np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    dx, dy = x - x_mean, y - y_mean
    variance = np.sum(dx * dx, axis=0)
    spread = x.max(axis=0) - x.min(axis=0)
    good = spread > min_price_spread_per_mwh
    slope = np.zeros_like(x_mean)
    slope[good] = np.sum(dx * dy, axis=0)[good] / variance[good]
    # the pooled elasticity: relative load changes on relative price changes, all good cells
    usable = good & (np.abs(x_mean) > 0) & (np.abs(y_mean) > 0)
    if np.any(usable):
        rx = (dx / np.where(x_mean == 0, 1, x_mean))[:, usable].ravel()
        ry = (dy / np.where(y_mean == 0, 1, y_mean))[:, usable].ravel()
        pooled_elasticity = float(rx @ ry / (rx @ rx)) if rx @ rx > 0 else 0.0
    else:
        pooled_elasticity = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        stand_in = np.where(x_mean != 0, pooled_elasticity * y_mean / x_mean, 0.0)
    slope[~good] = stand_in[~good]
    return ResponseModel(x_mean, y_mean, slope, pooled_elasticity, ~good)


@dataclass(frozen=True)
class ResponseTruth:
    """The traffic department's actual response (full information): its station loads at the
    reference prices (stations, periods; MW) and each station's own-price elasticity there
    (stations,)."""

    load_mw: FloatArray
    elasticity: FloatArray


def response_truth(respond: Callable[[FloatArray], FloatArray], reference_price: FloatArray,
                   relative_step: float = 0.02) -> ResponseTruth:
    """The truth from the private model's price response ``respond`` (prices → loads): the
    loads at the reference, and per station the elasticity of its daily energy to its own
    prices by a central difference of ``relative_step`` (2 solves a station)."""
    price = np.asarray(reference_price, dtype=np.float64)
    load = np.asarray(respond(price), dtype=np.float64)
    elasticity = np.full(price.shape[0], np.nan)
    for station in range(price.shape[0]):
        up, down = price.copy(), price.copy()
        up[station] *= 1 + relative_step
        down[station] *= 1 - relative_step
        change = float(np.sum(respond(up)[station]) - np.sum(respond(down)[station]))
        daily = float(np.sum(load[station]))
        if daily:
            elasticity[station] = change / (2 * relative_step * daily)
    return ResponseTruth(load, elasticity)


def reconstruct_response(view: AdmmView, truth: ResponseTruth,
                         reference_price: FloatArray | None = None, *,
                         with_baseline: bool = False, attacker: str = "dso",
                         target: str = "traffic") -> AttackResult:
    """Attack A on the view: fit, estimate at the reference (default: the agreed price), score.

    Headline error: the relative error (L1) of the hourly station loads; ``errors`` adds the
    elasticities' relative error (L1 over the stations) and the worst station's relative error
    of its daily energy. ``with_baseline``: fit the baseline's point too."""
    reference = view.final_price if reference_price is None else np.asarray(reference_price)
    prices, loads = view.response_points(with_baseline=with_baseline)
    model = fit_response(prices, loads)
    estimate = model.load_at(reference)
    elasticity = model.elasticity_at(reference)
    daily_estimate, daily_truth = estimate.sum(axis=1), truth.load_mw.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        station_errors = np.abs(daily_estimate - daily_truth) / np.abs(daily_truth)
    return AttackResult(
        attack=ATTACK, attacker=attacker, target=target,
        estimates="hourly EV charging demand per station (MW, at the "
                  + ("agreed" if reference_price is None else "reference") + " prices)",
        estimate={"load_mw": estimate, "elasticity": elasticity},
        truth={"load_mw": truth.load_mw, "elasticity": truth.elasticity},
        error=relative_error(estimate, truth.load_mw),
        errors={"elasticity_relative_error": relative_error(elasticity, truth.elasticity),
                "worst_station_daily_relative_error": float(np.nanmax(station_errors)),
                "observations": float(prices.shape[0]),
                "pooled_share": float(np.mean(model.pooled))})
