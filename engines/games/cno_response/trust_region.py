"""A CNO's trust region that adapts from round to round: shrink a price whose move reverses.

Why this module exists: in the city's pricing game (Chicago Sketch, 50 CNOs answering at once)
the AEM's linear model of the load response holds only near the current prices (deterministic
user equilibrium: a price step brings other stations' paths into use), so its best response
jumps to a price bound and back (29 % relative change every round, 40 % of the prices at a
bound); with a fixed ``trust_region_per_mwh`` of 5 $/MWh every price moved by its whole radius,
up and down, for as long as the game ran (2.2 % a round after 16 rounds). The step-size rule of
resilient backpropagation (Riedmiller & Braun 1993, "A direct adaptive method for faster
backpropagation learning: the RPROP algorithm", Proc. IEEE ICNN, 586–591) settles such an
oscillation one coordinate at a time: a price whose move reverses the direction of its previous
move has its radius multiplied by ``shrink``; one that moves the same way by its whole radius
has it multiplied by :data:`GROWTH` (RPROP's η⁺ = 1.2), up to the configured radius. Growth
must be slower than shrinking: with growth 1/shrink a price moving +r, +r, −r, −r, ... (each
reversal halving, each push doubling) cycled for ever, as the city game's did (0.9 % relative
change from round 30 to 36). It is the CNO's own rule over its
own prices (the moves it made), so it needs nothing from anyone else; where the game ends, the
ε certificate says how far from an equilibrium that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response.pricing import FloatArray

#: a move counts as one by the whole radius when it reaches this share of it
AT_RADIUS = 1.0 - 1e-6
#: a pushed radius grows by this factor (RPROP's η⁺), slower than any reversal shrinks it
GROWTH = 1.2


@dataclass
class AdaptiveTrustRegion:
    """Each price's radius ($/MWh, (stations, periods)) and the last move it made."""

    radius_per_mwh: float
    shrink: float
    shape: tuple[int, int]
    radius: FloatArray = field(init=False)
    last_move: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        if not np.isfinite(self.radius_per_mwh) or self.radius_per_mwh <= 0:
            raise InvalidInputError(f"trust_region_per_mwh must be positive, got "
                                    f"{self.radius_per_mwh}")
        if not 0.0 < self.shrink < 1.0:
            raise InvalidInputError(f"trust_region_shrink must lie in (0, 1), got {self.shrink}")
        self.radius = np.full(self.shape, float(self.radius_per_mwh))
        self.last_move = np.zeros(self.shape)

    def record(self, move_per_mwh: FloatArray) -> None:
        """Update the radii after a turn that moved the prices by ``move_per_mwh``."""
        move = np.asarray(move_per_mwh, dtype=np.float64)
        if move.shape != self.shape or not np.all(np.isfinite(move)):
            raise InvalidInputError(f"move: expected finite values of shape {self.shape}")
        reversed_ = move * self.last_move < 0.0
        pushed = ~reversed_ & (np.abs(move) >= AT_RADIUS * self.radius)
        self.radius = np.where(reversed_, self.radius * self.shrink, self.radius)
        self.radius = np.where(pushed, np.minimum(self.radius * GROWTH,
                                                  self.radius_per_mwh), self.radius)
        self.last_move = np.where(move != 0.0, move, self.last_move)

    def state(self) -> dict[str, Any]:
        return {"radius_per_mwh": self.radius.tolist(), "last_move_per_mwh":
                self.last_move.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (checked: finite, radii positive, the shape)."""
        try:
            radius = np.asarray(state["radius_per_mwh"], dtype=np.float64)
            last = np.asarray(state["last_move_per_mwh"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"trust region state: {error}") from None
        if radius.shape != self.shape or last.shape != self.shape or not (
                np.all(np.isfinite(radius)) and np.all(radius > 0)
                and np.all(np.isfinite(last))):
            raise InvalidInputError(f"trust region state: expected finite values of shape "
                                    f"{self.shape}, radii positive")
        self.radius = np.minimum(radius, self.radius_per_mwh)
        self.last_move = last
