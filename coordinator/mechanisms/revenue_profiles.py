"""Which profiles of {Nash, cooperative} prices the pricing game's revenue matrix evaluates.

Why this module exists: seed 001's revenue matrix (its Table 4) holds every profile of K CNOs'
choices, 2^K traffic equilibria: 4 for the paper's two CNOs, 16 for the Sioux Falls game, and
10^15 for a city's fifty. Its verdicts (:class:`~ptn.coordinator.mechanisms.pricing_game.
RevenueMatrix`: Nash stable, cooperation dominating, cooperation unstable, the prisoner's
dilemma) read only the all-Nash and all-cooperative profiles and every single deviation from
each: 2K + 2 profiles. Up to ``matrix_full_max_cnos`` CNOs every profile is evaluated (as the
paper); beyond, those 2K + 2 and ``matrix_samples`` further profiles drawn uniformly at random
(numpy's default generator seeded with ``matrix_seed``, without repeats), so the verdicts are
exactly those of the full matrix and the sample shows the rest of it. The selection is named in
the result (:data:`ALL_PROFILES` or a sentence), so a report says which it holds.
"""

from __future__ import annotations

import itertools

import numpy as np

from ptn.coordinator.mechanisms.game_settings import GameSettings

#: the choices a CNO has in the revenue matrix
CHOICES = ("nash", "cooperative")
#: the selection of a matrix holding every profile
ALL_PROFILES = "all"
#: draws per wanted random profile before giving up on finding new ones (few are left)
DRAWS_PER_SAMPLE = 20

Profile = tuple[str, ...]


def deviation_profiles(count: int) -> list[Profile]:
    """All Nash, all cooperative, and every single deviation from each (no repeats, in that
    order): the profiles the matrix's verdicts read."""
    chosen: dict[Profile, None] = {}
    for base, other in (CHOICES, CHOICES[::-1]):
        everyone = (base,) * count
        chosen[everyone] = None
        for k in range(count):
            chosen[(*everyone[:k], other, *everyone[k + 1:])] = None
    return list(chosen)


def matrix_profiles(cnos: tuple[str, ...], settings: GameSettings
                    ) -> tuple[tuple[Profile, ...], str]:
    """The profiles to evaluate for ``cnos`` and the selection's description (module
    docstring)."""
    count = len(cnos)
    if count <= settings.matrix_full_max_cnos:
        return tuple(itertools.product(CHOICES, repeat=count)), ALL_PROFILES
    chosen = dict.fromkeys(deviation_profiles(count))
    structured = len(chosen)
    rng = np.random.default_rng(settings.matrix_seed)
    wanted = structured + settings.matrix_samples
    for _ in range(DRAWS_PER_SAMPLE * settings.matrix_samples):
        if len(chosen) >= wanted:
            break
        bits = rng.integers(0, 2, size=count)
        chosen.setdefault(tuple(CHOICES[int(b)] for b in bits), None)
    sampled = len(chosen) - structured
    return tuple(chosen), (
        f"{structured + sampled} of the 2^{count} profiles: all Nash, all cooperative and every "
        f"single deviation from each ({structured}), and {sampled} drawn at random (seed "
        f"{settings.matrix_seed}); more than {settings.matrix_full_max_cnos} CNOs "
        f"([coordinator] matrix_full_max_cnos)")
