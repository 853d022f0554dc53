"""The private search with the per-bus MILP TNO (issue 17) on a window of the seed.

Scenario: ``profit-sharing-seed000`` with ``fleet_model = "bus-mip"``, sliced to periods 16-22.
The private search (ADMM per share, the TNO's step a mixed-integer QP solved by SCIP) lands on
the window's exact optimum, measured by the full-information sweep
(``sweep(fleet, dso, np.linspace(0, 1, 41))`` on this window, 15 s): ρ = 1/5, 2,724.627 $.
"""

from __future__ import annotations

import dataclasses

from ptn.coordinator.outcome import NegotiationStatus
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import hosted_endpoints
from ptn.scenario.document import Scenario
from ptn.services.dso.config import dso_config_from_part
from ptn.services.dso.model import DsoModel
from ptn.services.tno.model import TnoModel
from tests.support import with_settings
from tests.support.profit_sharing_cases import MIP_WINDOW, Cases

#: the window's exact optimum with the MILP fleet (module doc): ρ and the DNO's total cost
SWEEP_OPTIMUM = (0.2, 2724.627)


def test_the_private_search_with_the_milp_tno_finds_the_sweeps_optimum(
        scenario: Scenario, mip_window: Cases) -> None:
    fleet, dso, _ = mip_window
    config = dso_config_from_part(scenario.part("dso"))
    endpoints = hosted_endpoints({"tno": TnoModel("tno", fleet),
                                  "dso": DsoModel(dataclasses.replace(config, case=dso))})
    coarse = with_settings(scenario, shares=[0.0, 0.3, 1.0], refine_tolerance=0.01)
    public = dataclasses.replace(coarse.public, periods=MIP_WINDOW[1] - MIP_WINDOW[0])
    outcome = negotiate(dataclasses.replace(coarse, public=public), endpoints)
    assert outcome.status == NegotiationStatus.CONVERGED, outcome.message
    share, cost = SWEEP_OPTIMUM
    # just right of the breakpoint 1/5, within the refinement's tolerance, and no better than
    # the optimistic infimum (up to ADMM's accuracy)
    assert share <= outcome.best_share <= share + 0.01
    total = outcome.dno_total_cost_usd(outcome.best)
    assert cost - 0.05 <= total <= cost + 0.01 * (outcome.original_dso_cost_usd - 2721.0) + 0.05
    assert outcome.tno_accepted and outcome.tno_benefit_usd(outcome.best) > 0
