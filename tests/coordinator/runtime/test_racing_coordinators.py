"""Two coordinators racing for the same operators: the first keeps them, the second is refused.

An operator serves one negotiation at a time (the one its first request opened). A second
coordinator that starts while the first negotiates is refused by the operators (no state of
theirs changes), fails at once with a message naming the operator, and the first negotiation
ends with the numbers it has alone. Once the first has ended (``EndNegotiation``), the second
runs and gets the numbers a fresh set of operators gives. Independent check: the negotiation
in this process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptn.coordinator.outcome import RoundRecord
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.coordinator.runtime.launcher import OperatorProcesses
from ptn.coordinator.runtime.transports import Endpoint, GrpcEndpoint
from ptn.scenario.document import load_scenario


def test_a_second_coordinator_is_refused_while_the_first_negotiates(tmp_path: Path) -> None:
    scenario = load_scenario(periods=4)
    expected = negotiate(scenario, inproc_endpoints(scenario))
    with OperatorProcesses("nguyen-dupuis-ieee33", scenario, metrics=False,
                           log_directory=tmp_path / "logs") as processes:
        first = processes.endpoints()

        def rival_endpoints() -> dict[str, Endpoint]:
            return {operator_id: GrpcEndpoint(child.role, operator_id, child.address)
                    for operator_id, child in processes.processes.items()}

        rivals: list[object] = []

        def progress(record: RoundRecord) -> None:
            if not rivals:  # after the first's first round: a second coordinator starts
                rivals.append(negotiate(scenario, rival_endpoints()))

        winner = negotiate(scenario, dict(first), progress=progress)
        later = negotiate(scenario, rival_endpoints())
    refused = rivals[0]
    assert refused.status == "failed"  # type: ignore[attr-defined]
    assert "operator" in refused.message and "refused" in refused.message  # type: ignore[attr-defined]
    assert "FAILED_PRECONDITION" in refused.message  # type: ignore[attr-defined]
    for outcome in (winner, later):
        assert outcome.status == "converged", outcome.message
        assert len(outcome.rounds) == len(expected.rounds)
        assert abs(outcome.agreed.total - expected.agreed.total) <= 1e-6 * expected.agreed.total
        assert np.allclose(outcome.agreed.station_load_mw, expected.agreed.station_load_mw,
                           rtol=0, atol=1e-6)
