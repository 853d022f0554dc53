"""The traffic department's private probe workers end with the negotiation that started them.

The workers (``[traffic] probe_workers``) are processes of the operator; the in-process backend
closes every host when the run ends, the gRPC server when it stops serving. Without that they
would linger until the interpreter exits, holding a network model each.
"""

from __future__ import annotations

import multiprocessing

import ptn


def test_an_inproc_run_leaves_no_probe_worker_behind() -> None:
    scenario = ptn.Scenario.load("pricing-seed001").with_overrides({
        "traffic.probe_workers": 2, "coordinator.max_rounds": 6,
        "coordinator.revenue_matrix": False, "coordinator.certificate": False})
    before = set(multiprocessing.active_children())
    result = ptn.run(scenario, backend="inproc", reference=False)
    # the CNOs probed in every round past the DSO's trials, so the workers were started
    assert len(result.outcome.variants["nash"].outcome.rounds) >= 6
    assert set(multiprocessing.active_children()) - before == set()
