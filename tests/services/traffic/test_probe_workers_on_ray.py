"""``[traffic] probe_workers_on = "ray"``: the traffic department's probe workers as Ray actors.

Their answers must be the in-process ones bit for bit (each probe carries its own warm start),
in a pool driven directly and in a whole game whose traffic operator is a Ray actor; the key is
refused where it cannot work.
"""

from __future__ import annotations

import numpy as np
import pytest

import ptn
from ptn.coordinator.runtime.backends import start_ray
from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.probe_pool import ProbePool, ProbeSolve, solve_probes
from ptn.services.traffic.config import traffic_config_from_part
from tests.services.traffic.test_probe_answers import aem_batch, problem, traffic_part


def test_the_key_is_read_and_refused_where_it_cannot_work() -> None:
    config = traffic_config_from_part(traffic_part(probe_workers=2, probe_workers_on="ray"))
    assert (config.probes.workers, config.probes.workers_on) == (2, "ray")
    with pytest.raises(InvalidInputError, match=r"traffic\.probe_workers_on: needs "
                                                r"probe_workers > 1"):
        traffic_config_from_part(traffic_part(probe_workers_on="ray"))
    with pytest.raises(InvalidInputError, match=r"traffic\.probe_workers_on"):
        traffic_config_from_part(traffic_part(probe_workers=2, probe_workers_on="threads"))
    with pytest.raises(InvalidInputError, match="probe_workers_on = 'elsewhere'"):
        ProbePool(problem(), 2, "elsewhere")


def test_ray_workers_answer_as_this_process_does() -> None:
    from ptn.services.adapters import ray_probe_pool

    ray_probe_pool.register()
    start_ray()
    base = problem().solve(aem_batch()[0], gap=1e-10, max_iterations=5000)
    solves = [ProbeSolve(price, base.warm_start, 1e-10, 5000) for price in aem_batch()[1:4]]
    pool = ProbePool(problem(), 2, "ray")
    try:
        remote = pool.solve(solves)
    finally:
        pool.close()
    local = solve_probes(problem(), solves)
    for there, here in zip(remote, local, strict=True):
        np.testing.assert_array_equal(there.station_load_mw, here.station_load_mw)


def test_a_game_on_ray_with_ray_probe_workers_plays_as_in_process() -> None:
    overrides = {"traffic.probe_workers": 2, "traffic.probe_answers": "exact",
                 "coordinator.max_rounds": 7, "coordinator.revenue_matrix": False,
                 "coordinator.certificate": False, "coordinator.variants": ["nash"]}
    base = ptn.Scenario.load("pricing-seed001")
    on_ray = ptn.run(base.with_overrides({**overrides, "traffic.probe_workers_on": "ray"}),
                     backend="ray", reference=False)
    here = ptn.run(base.with_overrides(overrides), backend="inproc", reference=False)
    rounds = [v.outcome.variants["nash"].outcome.rounds for v in (on_ray, here)]
    assert len(rounds[0]) == len(rounds[1]) == 7  # past the DSO's 5 trials: the CNOs probed
    for a, b in zip(*rounds, strict=True):
        np.testing.assert_array_equal(a.price_per_mwh, b.price_per_mwh)
