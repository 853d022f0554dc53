"""Outcomes of the three mechanisms whose numbers are known here, for the results tests.

The joint coordination and pricing-game outcomes are the existing results tests' own; the
profit-sharing outcome is built here (3 stations, 4 periods of 6 h, three shares).
"""

from __future__ import annotations

import numpy as np

from ptn.coordinator.mechanisms.profit_sharing import ProfitSharingOutcome, ShareEvaluation
from ptn.coordinator.outcome import NegotiationStatus
from tests.coordinator.results.test_joint_coordination import synthetic_outcome
from tests.coordinator.results.test_pricing_game import synthetic_game

SHARING_STATIONS = ("depot", "mall", "station_c")
PRESCHEDULE_MW = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5], [2.0, 0.0, 0.0, 2.0]])
RESCHEDULED_MW = np.array([[2.0, 2.0, 2.0, 4.0], [0.5, 1.0, 0.0, 0.5], [1.0, 1.0, 1.0, 1.0]])


def synthetic_sharing() -> ProfitSharingOutcome:
    """Profit sharing with ρ* = 0.25: C0 = 1000 $, the DSO's cost 900 $ at ρ*."""
    evaluations = tuple(
        ShareEvaluation(share=share, status=NegotiationStatus.CONVERGED, rounds=3,
                        dso_cost_usd=cost, tno_cost_usd=500.0 + 40 * share,
                        load_mw=RESCHEDULED_MW if share == 0.25 else PRESCHEDULE_MW,
                        seconds=0.1)
        for share, cost in ((0.0, 1000.0), (0.25, 900.0), (0.5, 880.0)))
    return ProfitSharingOutcome(
        scenario="sharing-synthetic", stations=SHARING_STATIONS, periods=4, period_hours=6.0,
        original_dso_cost_usd=1000.0, tno_cost_alone_usd=500.0,
        preschedule_load_mw=PRESCHEDULE_MW, evaluations=evaluations, best_share=0.25,
        payment_usd=25.0, tno_accepted=True, status=NegotiationStatus.CONVERGED, message="",
        seconds=1.0)


__all__ = ["synthetic_game", "synthetic_outcome", "synthetic_sharing"]
