"""Checks of the loads an operator is told were observed at its stations.

Why this module exists: the DSO's pricing fit and a CNO's best-response search learn from the
station loads the coordinator reports (the traffic department's answers to their prices). The
host already refuses non-finite and astronomically large values; a charging station's load is
also never negative (it draws power, it does not feed it), and a negative observation sent by a
hostile caller would make the fit or the search learn a response no market has. Solver noise of
a legitimate answer (a few 1e-9 MW below zero) is tolerated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ptn.engines.errors import InvalidInputError

#: how far below zero an observed load may be (MW): an equilibrium's rounding, not a datum
NEGATIVE_LOAD_TOLERANCE_MW = 1e-6


def check_station_loads(load_mw: NDArray[np.float64], stations: Sequence[str],
                        what: str) -> None:
    """Refuse observed loads (stations × periods) below zero, naming the station and period."""
    below = np.argwhere(np.asarray(load_mw) < -NEGATIVE_LOAD_TOLERANCE_MW)
    if below.size:
        station, period = (int(v) for v in below[0])
        raise InvalidInputError(f"{what}: load {load_mw[station, period]:g} MW at station "
                                f"{stations[station]} in period {period} is negative")
