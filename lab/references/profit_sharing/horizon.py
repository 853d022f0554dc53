"""Both profit-sharing cases cut to a window of periods: smaller instances for the KKT.

Why this module exists: SCIP does not close seed 000's full 24-period bilevel problem within
minutes (:mod:`ptn.lab.references.profit_sharing.kkt`), but proves the optimum of the same
problem on a window of the day in seconds. The KKT reference is therefore checked against the
sweep on windows (tests, ``bench/profit_sharing.py``), and a window of the fleet case and of the
DSO case must be cut consistently: this is that cut.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from ptn.engines.errors import InvalidInputError
from ptn.engines.fleet.case import FleetCase, FloatArray
from ptn.engines.power.der import DsoCase, validate_case


def slice_horizon(
    fleet_case: FleetCase, dso_case: DsoCase, start: int, stop: int
) -> tuple[FleetCase, DsoCase]:
    """Both cases restricted to periods ``start .. stop − 1`` (a smaller instance for the KKT).

    Everything per period is sliced (tariff, timetables, service shares; load profile,
    upstream prices, renewable profiles). **(choice)** The window keeps the day's rules: the
    fleet starts it at its initial SOC and must end it no emptier, storage returns to its
    initial SOC, ramp limits hold inside it.
    """
    periods = fleet_case.periods
    if not (0 <= start < stop <= periods) or dso_case.periods != periods:
        raise InvalidInputError(f"need 0 <= start < stop <= {periods} and cases of {periods} "
                                f"periods, got start {start}, stop {stop}, DSO periods "
                                f"{dso_case.periods}")

    def cut(values: ArrayLike) -> FloatArray:
        return np.asarray(values, dtype=np.float64)[start:stop].copy()

    lines = tuple(replace(line, round_trips_per_period=cut(line.round_trips_per_period),
                          service_share=cut(line.service_share)) for line in fleet_case.lines)
    fleet = replace(fleet_case, lines=lines, tariff_per_mwh=cut(fleet_case.tariff_per_mwh),
                    name=f"{fleet_case.name}[{start}:{stop}]")
    price = None if dso_case.upstream_price_per_mwh is None \
        else cut(dso_case.upstream_price_per_mwh)
    dso = replace(dso_case, periods=stop - start, load_profile=cut(dso_case.load_profile),
                  bus_load_profiles=tuple(replace(profile, multipliers=cut(profile.multipliers))
                                          for profile in dso_case.bus_load_profiles),
                  upstream_price_per_mwh=price,
                  renewables=tuple(replace(unit, profile=cut(unit.profile))
                                   for unit in dso_case.renewables))
    validate_case(dso)
    return fleet, dso
