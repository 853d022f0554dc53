"""The pricing game's settings for large games: turn order, probe batches, the revenue matrix.

Why this module exists: seed 001's Algorithm 1 lets the CNOs best-respond in turn and its
revenue matrix enumerates all 2^K profiles of {Nash, cooperative} prices, both fine for the
paper's two CNOs and impossible for a city's fifty. These settings say how the game scales
(:mod:`ptn.coordinator.mechanisms.pricing_game`); their defaults keep the seed's behaviour.

* ``best_response_order``: ``"in-turn"`` (Algorithm 1: each CNO answers the prices its
  predecessors just set) or ``"simultaneous"`` (Jacobi: every CNO answers the prices in force at
  the start of the round, all at once, their probes in one batch per phase);
* ``certificate_together``: the ε-certificate's CNO entries all at once, their probes merged
  into one batch per phase, or one CNO after another (the default; the same entries). Measured
  on pricing-siouxfalls in one process (bench/results/game_mechanism.md): 57 phases against
  158, but 1.75–2.7× the seconds per probe, since the traffic department answers a batch one
  probe after another, each warm-started from the probe before, in a merged batch often
  another CNO's; so the default stays one after another, and at once pays where the department
  answers a batch in parallel (``[traffic] probe_workers``) or a phase costs a round trip;
* ``probe_batch_max``: the most probes one merged ``ProbeResponses`` message carries (None: no
  limit beyond the traffic department's own cap and gRPC's message size);
* the revenue matrix: all 2^K profiles while K ≤ ``matrix_full_max_cnos``; beyond it the
  2K + 2 profiles its verdicts read (all Nash, all cooperative, every single deviation from
  each) plus ``matrix_samples`` random profiles drawn with ``matrix_seed``, sent in batches of
  at most ``matrix_batch_probes`` probes.

They are read from the scenario's ``[coordinator]`` table where it holds them (keys of the same
names), else the defaults apply (:func:`game_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import BEST_RESPONSE_ORDERS, CoordinatorSettings

#: the orders in which the CNOs best-respond within a round
ORDERS = BEST_RESPONSE_ORDERS
_SCENARIO_DEFAULTS = CoordinatorSettings()


@dataclass(frozen=True)
class GameSettings:
    """How the pricing game scales (module docstring)."""

    # the defaults are the scenario's (one place: its [coordinator] keys of the same names)
    best_response_order: str = _SCENARIO_DEFAULTS.best_response_order
    certificate_together: bool = _SCENARIO_DEFAULTS.certificate_together
    probe_batch_max: int | None = _SCENARIO_DEFAULTS.probe_batch_max
    matrix_full_max_cnos: int = _SCENARIO_DEFAULTS.matrix_full_max_cnos
    matrix_samples: int = _SCENARIO_DEFAULTS.matrix_samples
    matrix_seed: int = _SCENARIO_DEFAULTS.matrix_seed
    matrix_batch_probes: int = _SCENARIO_DEFAULTS.matrix_batch_probes

    def __post_init__(self) -> None:
        if self.best_response_order not in ORDERS:
            raise InvalidInputError(f"coordinator.best_response_order: expected one of "
                                    f"{', '.join(ORDERS)}, got {self.best_response_order!r}")
        if not isinstance(self.certificate_together, bool):
            raise InvalidInputError(f"coordinator.certificate_together: expected true or "
                                    f"false, got {self.certificate_together!r}")
        minimum = {"probe_batch_max": 1, "matrix_full_max_cnos": 1, "matrix_samples": 0,
                   "matrix_seed": 0, "matrix_batch_probes": 1}
        for key, least in minimum.items():
            value = getattr(self, key)
            if value is None and key == "probe_batch_max":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidInputError(f"coordinator.{key}: expected an integer of at least "
                                        f"{least}, got {value!r}")


def game_settings(coordinator: Any) -> GameSettings:
    """The settings of a scenario's ``[coordinator]`` (its
    :class:`~ptn.scenario.document.CoordinatorSettings`): each field it carries under the same
    name, else the default."""
    return GameSettings(**{f.name: getattr(coordinator, f.name) for f in fields(GameSettings)
                           if hasattr(coordinator, f.name)})
