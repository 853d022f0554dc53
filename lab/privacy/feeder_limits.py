"""Attack B: the traffic department infers the DSO's binding feeder limits and its tariff.

Why this module exists: at convergence the ADMM consensus price λ equals the DSO's DLMP at each
station's bus (:mod:`ptn.coordinator.mechanisms.admm`), and a DLMP is the upstream energy price
plus a loss component plus the shadow prices of the binding line and voltage limits (Papavasiliou,
"Analysis of distribution locational marginal prices", IEEE Trans. Smart Grid 2018). The
traffic department receives λ every round, so it can read:

* the DSO's upstream tariff per period: the cheapest station's price in that period (a station
  behind no binding limit pays the upstream price plus its losses);
* the periods in which the feeder is congested: those where some station pays a premium of more
  than ``premium_threshold`` (relative) over that period's cheapest station — the spread that
  losses alone do not make.

The truth is the DSO's own dispatch at the agreed loads (its private OPF: which lines are at
their rating, which buses at a voltage limit) and its ``[dso.upstream]`` prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptn.coordinator.outcome import FloatArray
from ptn.lab.privacy.result import PRECISION, AttackResult, relative_error

BINDING_ATTACK = "dlmp-binding-periods"
TARIFF_ATTACK = "dlmp-upstream-tariff"
#: a station's price this much (relative) above the period's cheapest reads as congestion:
#: on the default scenario (IEEE 33-bus, 4 periods) losses alone spread the station prices by
#: 6-12 %, binding voltage limits (voltage_min_pu = 0.95) by 34-79 % (docs/privacy.md)
PREMIUM_THRESHOLD = 0.2


@dataclass(frozen=True)
class FeederTruth:
    """The DSO's private facts at the agreed loads: per period whether any line or voltage
    limit binds (periods,), and its upstream price ($/MWh, periods,)."""

    binding: np.ndarray
    upstream_price_per_mwh: FloatArray


def upstream_estimate(price_per_mwh: FloatArray) -> FloatArray:
    """The upstream tariff per period: the lowest station price of the period."""
    return np.asarray(np.min(np.asarray(price_per_mwh, dtype=np.float64), axis=0))


def binding_estimate(price_per_mwh: FloatArray,
                     premium_threshold: float = PREMIUM_THRESHOLD) -> np.ndarray:
    """Per period, whether some station's premium over the period's cheapest station exceeds
    ``premium_threshold`` (relative)."""
    price = np.asarray(price_per_mwh, dtype=np.float64)
    floor = np.min(price, axis=0)
    premium = (np.max(price, axis=0) - floor) / np.maximum(np.abs(floor), 1e-9)
    return np.asarray(premium > premium_threshold)


def precision_recall(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """Precision and recall of a prediction of booleans (1.0 where nothing was predicted or
    nothing is there to find: no false claim, nothing missed)."""
    p, a = np.asarray(predicted, dtype=bool), np.asarray(actual, dtype=bool)
    hits = int(np.sum(p & a))
    precision = hits / int(np.sum(p)) if np.any(p) else 1.0
    recall = hits / int(np.sum(a)) if np.any(a) else 1.0
    return precision, recall


def infer_binding_periods(price_per_mwh: FloatArray, truth: FeederTruth, *,
                          premium_threshold: float = PREMIUM_THRESHOLD,
                          attacker: str = "traffic", target: str = "dso") -> AttackResult:
    """Attack B (limits): predicted congested periods against the DSO's binding limits;
    headline precision, recall in ``errors``."""
    predicted = binding_estimate(price_per_mwh, premium_threshold)
    precision, recall = precision_recall(predicted, truth.binding)
    return AttackResult(
        attack=BINDING_ATTACK, attacker=attacker, target=target,
        estimates="periods with a binding feeder limit (line rating or voltage)",
        estimate=predicted.astype(bool).tolist(), truth=np.asarray(truth.binding).tolist(),
        error=precision, error_measure=PRECISION,
        errors={"precision": precision, "recall": recall,
                "predicted": float(np.sum(predicted)),
                "binding": float(np.sum(truth.binding)),
                "premium_threshold": premium_threshold})


def infer_upstream_tariff(price_per_mwh: FloatArray, truth: FeederTruth, *,
                          attacker: str = "traffic", target: str = "dso") -> AttackResult:
    """Attack B (tariff): the upstream price per period against ``[dso.upstream]``; headline
    the relative error (L1) over the periods, the worst period's in ``errors``."""
    estimate = upstream_estimate(price_per_mwh)
    true = np.asarray(truth.upstream_price_per_mwh, dtype=np.float64)
    worst = float(np.max(np.abs(estimate - true) / np.abs(true)))
    uncongested = ~np.asarray(truth.binding, dtype=bool)
    free = relative_error(estimate[uncongested], true[uncongested]) \
        if np.any(uncongested) else float("nan")
    return AttackResult(
        attack=TARIFF_ATTACK, attacker=attacker, target=target,
        estimates="upstream energy price per period ($/MWh)", estimate=estimate, truth=true,
        error=relative_error(estimate, true),
        errors={"worst_period_relative_error": worst,
                "uncongested_periods_relative_error": free})
