"""Attack C: in the pricing game, a CNO infers another CNO's price bounds and marginal cost.

Why this module exists: a CNO's price bounds (its ``[cno.*]`` table) and its purchase price
from the DSO are its own, yet the prices it posts are public to every driver, round after
round of the best-response game (seed 001, :mod:`ptn.coordinator.mechanisms.best_response`).
An honest-but-curious competitor reads:

* the bounds: the lowest and highest price the other posted at each of its stations (a best
  response that hits a bound stays there, so a game that pushes prices to a bound shows it);
* its marginal cost (the DSO's price at its stations): the attacker's own purchase prices of the
  same period, averaged over its stations (the DSO prices the energy of one feeder alike).

The truth: the target's ``[cno.*]`` price_min/price_max and the DSO's quotes at its stations
(the coordinator's record; the experimenter holds both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ptn.coordinator.outcome import FloatArray
from ptn.lab.privacy.result import AttackResult, relative_error
from ptn.lab.privacy.views import GameView

BOUNDS_ATTACK = "game-price-bounds"
COST_ATTACK = "game-marginal-cost"


@dataclass(frozen=True)
class CnoTruth:
    """The target CNO's bounds per station ($/MWh, (stations,)) and the DSO's prices at its
    stations per round ((rounds, stations, periods), $/MWh)."""

    price_min_per_mwh: FloatArray
    price_max_per_mwh: FloatArray
    purchase_per_mwh: FloatArray


def infer_price_bounds(view: GameView, truth: CnoTruth) -> AttackResult:
    """The bounds per station: min and max of what the target posted over rounds and periods;
    headline the relative error (L1) of both bounds together."""
    low = view.posted.min(axis=(0, 2))
    high = view.posted.max(axis=(0, 2))
    true_low = np.broadcast_to(truth.price_min_per_mwh, low.shape)
    true_high = np.broadcast_to(truth.price_max_per_mwh, high.shape)
    return AttackResult(
        attack=BOUNDS_ATTACK, attacker=view.attacker, target=view.target,
        estimates="price bounds per station ($/MWh, min and max)",
        estimate={"price_min_per_mwh": dict(zip(view.target_stations, low.tolist(),
                                                strict=True)),
                  "price_max_per_mwh": dict(zip(view.target_stations, high.tolist(),
                                                strict=True))},
        truth={"price_min_per_mwh": dict(zip(view.target_stations, true_low.tolist(),
                                             strict=True)),
               "price_max_per_mwh": dict(zip(view.target_stations, true_high.tolist(),
                                             strict=True))},
        error=relative_error(np.concatenate([low, high]),
                             np.concatenate([true_low, true_high])),
        errors={"min_relative_error": relative_error(low, true_low),
                "max_relative_error": relative_error(high, true_high)})


def marginal_cost_estimate(view: GameView) -> FloatArray:
    """Per round and period, the attacker's mean purchase price, for every target station:
    (rounds, target stations, periods)."""
    mean = view.own_purchase.mean(axis=1)
    return np.repeat(mean[:, None, :], len(view.target_stations), axis=1)


def infer_marginal_cost(view: GameView, truth: CnoTruth) -> AttackResult:
    """The target's purchase price per round, station and period; headline the relative error
    (L1) over all of them, the last round's in ``errors``."""
    estimate = marginal_cost_estimate(view)
    true = np.asarray(truth.purchase_per_mwh, dtype=np.float64)
    return AttackResult(
        attack=COST_ATTACK, attacker=view.attacker, target=view.target,
        estimates="marginal cost: the DSO's price at its stations ($/MWh, last round)",
        estimate=estimate[-1], truth=true[-1], error=relative_error(estimate, true),
        errors={"last_round_relative_error": relative_error(estimate[-1], true[-1])})
