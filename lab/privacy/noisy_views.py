"""An adversary's view with differentially private noise on the messages it saw.

Why this module exists: the attacks must degrade when the operators add noise to what they
release (issue 20 item 2). Until the mechanisms release noisy values themselves, this perturbs
a recorded view as the owner's release would have: each round's released array gets fresh
Laplace noise from :class:`ptn.engines.privacy.noise.LaplaceMechanism` (calibrated to an
adjacency and ε), from the owner's own seeded stream (:func:`ptn.engines.privacy.noise.
noise_generator`). The noise is added to the observations only: the rounds that followed are the
noiseless run's (a noisy run would also have moved them).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ptn.coordinator.outcome import FloatArray
from ptn.engines.privacy.noise import LaplaceMechanism, noise_generator
from ptn.engines.privacy.sensitivity import Adjacency
from ptn.lab.privacy.views import AdmmView, GameView


def laplace(bound: float, unit: str, epsilon: float, periods: int) -> LaplaceMechanism:
    """The Laplace mechanism for a (rows × ``periods``) release, neighbours one row changed by
    up to ``bound`` in one period (``one_period`` adjacency)."""
    adjacency = Adjacency("one_period", bound, unit)
    return LaplaceMechanism(adjacency.sensitivity(periods), epsilon)


def _released(values: FloatArray, mechanism: LaplaceMechanism | None, seed: int,
              stream: str) -> FloatArray:
    if mechanism is None:
        return np.asarray(values, dtype=np.float64)
    generator = noise_generator(seed, stream)
    return np.stack([mechanism.release(v, generator) for v in np.asarray(values)])


def noisy_admm_view(view: AdmmView, *, load: LaplaceMechanism | None = None,
                    price: LaplaceMechanism | None = None, seed: int = 0) -> AdmmView:
    """``view`` with the traffic department's released loads and/or the consensus prices
    perturbed, one release per round (the final price too)."""
    prices = _released(np.concatenate([view.price_sent, view.final_price[None]]), price, seed,
                       "price_per_mwh")
    return replace(view, consumer_load=_released(view.consumer_load, load, seed, "load_mw"),
                   price_sent=prices[:-1], final_price=prices[-1])


def noisy_game_view(view: GameView, *, price: LaplaceMechanism | None = None,
                    seed: int = 0) -> GameView:
    """``view`` with the prices the target posted and the DSO's quotes perturbed per round."""
    return replace(view, posted=_released(view.posted, price, seed, f"posted:{view.target}"),
                   own_purchase=_released(view.own_purchase, price, seed,
                                          f"purchase:{view.attacker}"))
