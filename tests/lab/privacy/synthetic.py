"""Synthetic negotiations whose private truth is known in closed form, for the attacks' tests.

An ADMM run between a consumer with the linear station response ``L = a − β·p`` (its cost
``Δt·Σ (P²/(2β) − (a/β)·P)``) and a supplier of cost ``Δt·Σ (c/2·P² + d·P)``, each step solved
in closed form, recorded as the coordinator records a round; and a pricing game's rounds with
prices that reach known bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ptn.coordinator.outcome import (
    CostSummary,
    FloatArray,
    NegotiationOutcome,
    NegotiationStatus,
    RoundRecord,
)

STATIONS = ("s1", "s2", "s3")
PERIODS = 4


def linear_consumer(seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """(a in MW, β in MW per $/MWh) per station and period."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(1.0, 2.0, (len(STATIONS), PERIODS))
    beta = rng.uniform(0.004, 0.01, (len(STATIONS), PERIODS))
    return a, beta


def admm_outcome(rounds: int = 12, tariff: float = 85.0, seed: int = 0) -> NegotiationOutcome:
    """A closed-form ADMM run (penalty doubled after the third round), as recorded."""
    a, beta = linear_consumer(seed)
    c, d = 40.0, 30.0
    baseline_load = a - beta * tariff
    z = baseline_load.copy()
    lam = c * z + d  # the DSO's marginal cost at the baseline: its DLMP
    records = []
    for k in range(1, rounds + 1):
        rho = 20.0 if k <= 3 else 40.0
        p_a = (a / beta - lam + rho * z) / (1 / beta + rho)
        p_b = (lam - d + rho * p_a) / (c + rho)
        lam = lam + rho * (p_a - p_b)
        records.append(RoundRecord(round=k, seconds=0.0, values={"penalty_per_mw2h": rho},
                                   price_per_mwh=lam.copy(),
                                   load_mw={"traffic": p_a.copy(), "dso": p_b.copy()}))
        z = p_b
    baseline = CostSummary(total=0.0, by_operator={}, station_load_mw=baseline_load,
                           price_per_mwh=np.full_like(a, tariff))
    agreed = CostSummary(total=0.0, by_operator={}, station_load_mw=records[-1].load_mw[
        "traffic"], price_per_mwh=lam.copy())
    return NegotiationOutcome(
        negotiation_id="synthetic", mechanism="admm", status=NegotiationStatus.CONVERGED,
        message="", stations=STATIONS, periods=PERIODS, period_hours=1.0,
        rounds=tuple(records), seconds=0.0, agreed=agreed, baseline=baseline)


def linear_respond(seed: int = 0) -> Callable[[FloatArray], FloatArray]:
    """The consumer's private response at given prices."""
    a, beta = linear_consumer(seed)

    def respond(price: FloatArray) -> FloatArray:
        return np.asarray(a - beta * np.asarray(price))

    return respond


GAME_STATIONS = ("a1", "a2", "b1", "b2")
LOW, HIGH = 150.0, 250.0


def game_records(rounds: int = 10, seed: int = 0) -> list[RoundRecord]:
    """Pricing-game rounds: CNO "a" at a1, a2, CNO "b" at b1, b2; b's prices reach both of its
    bounds [150, 250]; the DSO's price is the same at every station of a period."""
    rng = np.random.default_rng(seed)
    records = []
    for k in range(rounds):
        price = rng.uniform(LOW, HIGH, (4, PERIODS))
        if k == 0:
            price[2, 0], price[3, 1] = HIGH, LOW
            price[2, 1], price[3, 0] = LOW, HIGH
        purchase = np.repeat(rng.uniform(80, 120, PERIODS)[None], 4, axis=0)
        records.append(RoundRecord(round=k + 1, seconds=0.0, values={}, price_per_mwh=price,
                                   load_mw={}, series={"dso_price_per_mwh": purchase}))
    return records
