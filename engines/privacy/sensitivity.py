"""What a neighbouring dataset is, and how far it moves a released array: the sensitivities.

Why this module exists: a privacy level means nothing without the adjacency it is stated for.
An operator releases an array of shape (stations × periods) (station loads in MW, or prices in
$/MWh) each round; two datasets are neighbours when one row (one station, or one price) differs,
by at most ``bound`` in the datum's unit per period, either

- ``one_period``: in a single period (one station's load in one hour), or
- ``one_profile``: in every period at once (one station's whole daily profile).

The released array is the datum itself (the identity query), so the sensitivities are those of
the difference of neighbours (Dwork & Roth 2014, Def. 3.1 and §3.5.3): ``one_period`` moves one
entry by ``bound`` (Δ1 = Δ2 = bound); ``one_profile`` moves T entries by ``bound`` each
(Δ1 = T·bound, Δ2 = sqrt(T)·bound). What a release reveals about quantities *behind* the datum
(the OD demand behind a station load) is not bounded here: docs/privacy-mechanisms.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ptn.engines.errors import InvalidInputError

AdjacencyScope = Literal["one_period", "one_profile"]
ADJACENCY_SCOPES: tuple[AdjacencyScope, ...] = ("one_period", "one_profile")


@dataclass(frozen=True)
class Sensitivity:
    """The largest L1 and L2 distance between the releases of two neighbouring datasets, in
    the datum's unit."""

    l1: float
    l2: float


@dataclass(frozen=True)
class Adjacency:
    """Neighbouring datasets: one row of the released array changed by up to ``bound`` (in
    ``unit``, e.g. MW or $/MWh) per period, in one period or in all of them (``scope``)."""

    scope: AdjacencyScope
    bound: float
    unit: str

    def __post_init__(self) -> None:
        if self.scope not in ADJACENCY_SCOPES:
            raise InvalidInputError(f"adjacency: expected one of {', '.join(ADJACENCY_SCOPES)}, "
                                    f"got {self.scope!r}")
        if isinstance(self.bound, bool) or not isinstance(self.bound, int | float) \
                or not math.isfinite(self.bound) or not self.bound > 0:
            raise InvalidInputError(f"adjacency bound ({self.unit}): expected a finite number "
                                    f"> 0, got {self.bound!r}")

    def sensitivity(self, periods: int) -> Sensitivity:
        """The sensitivities of a (rows × ``periods``) release under this adjacency."""
        if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
            raise InvalidInputError(f"periods: expected an integer >= 1, got {periods!r}")
        if self.scope == "one_period":
            return Sensitivity(l1=self.bound, l2=self.bound)
        return Sensitivity(l1=periods * self.bound, l2=math.sqrt(periods) * self.bound)

    def describe(self) -> str:
        """The adjacency in words, for reports and result folders."""
        span = "in one period" if self.scope == "one_period" else "in every period"
        return f"one row changed by up to {self.bound:g} {self.unit} {span}"
