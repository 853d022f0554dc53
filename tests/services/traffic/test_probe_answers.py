"""The traffic department's probe answers under the ``[traffic]`` table's ``probe_*`` keys.

On seed 001's traffic department (Nguyen–Dupuis, six periods, departure shifting, elastic EV
demand) answering AEM-like batches (a base price, then each station's price 1 $/MWh higher in
every period), against exact equilibria solved here at a gap of 1e-12:

* ``probe_answers = "sensitivity"`` re-solves the base and, as a check, one step, and answers
  the other steps by the first-order expansion, within 10 % of each step's exact load change;
  a later batch around the checked base is all expansion; a refuted check re-solves the batch
  and halves the radius; a probe beyond the radius is re-solved (the exact equilibrium);
* ``probe_load_tolerance_mw`` re-solves (warm-started from the department's latest answer)
  stop on the station loads in fewer iterations than the gap asks and stay within the
  tolerance of the exact answers;
* ``probe_workers = 2`` gives bit-identical answers to one in-process worker;
* bad keys, and any probe key in SUE mode, are refused naming the key; the defaults leave the
  historical answers alone.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.traffic.multiperiod import MultiPeriodProblem, build_multiperiod_problem
from ptn.scenario.document import ScenarioPart, load_scenario
from ptn.services.contract import OperatorStatus
from ptn.services.traffic import probes
from ptn.services.traffic.config import ProbeSettings, traffic_config_from_part
from ptn.services.traffic.model import TrafficDepartmentModel
from ptn.services.traffic.probes import ProbeAnswerer

SCENARIO = load_scenario("scenarios/pricing-seed001.toml")


def traffic_part(**changes: Any) -> ScenarioPart:
    part = SCENARIO.part("traffic")
    return replace(part, data={**part.data, **changes})


@cache
def problem() -> MultiPeriodProblem:
    return build_multiperiod_problem(traffic_config_from_part(traffic_part()).spec)


def base_price() -> np.ndarray:
    spec = problem().spec
    return np.random.default_rng(3).uniform(200.0, 240.0, (spec.charging.num_stations,
                                                           spec.num_periods))


def aem_batch(step: float = 1.0) -> list[np.ndarray]:
    base = base_price()
    probes = [base]
    for m in range(base.shape[0]):
        probe = base.copy()
        probe[m] += step
        probes.append(probe)
    return probes


@cache
def exact_loads(step: float = 1.0) -> tuple[np.ndarray, ...]:
    """Each probe's station loads (stations, periods) at a gap of 1e-12."""
    base = problem().solve(base_price(), gap=1e-12, max_iterations=5000)
    return tuple(problem().solve(price, gap=1e-12, max_iterations=5000,
                                 warm_start=base).station_load_mw.T for price in aem_batch(step))


def test_sensitivity_answers_solve_the_base_and_expand_the_steps() -> None:
    config = traffic_config_from_part(traffic_part(probe_answers="sensitivity"))
    assert config.probes == ProbeSettings("sensitivity", 1.0, 1, None)
    model = TrafficDepartmentModel(config)
    reply = model.probe_responses(aem_batch())
    assert reply.status == OperatorStatus.OK
    exact = exact_loads()
    np.testing.assert_allclose(reply.load_mw[0], exact[0], atol=1e-6)
    for answer, truth in zip(reply.load_mw[1:], exact[1:], strict=True):
        change = truth - exact[0]
        assert np.abs(change).max() > 1e-3  # a 1 $/MWh step moves the loads
        assert np.abs((answer - reply.load_mw[0]) - change).max() <= 0.1 * np.abs(change).max()
    answer = model.probe_answerer.answer(aem_batch(), None)
    # the base is now a solved point whose expansion a re-solve confirmed at this step: the
    # whole batch comes from its expansion
    assert (answer.solved, answer.expanded) == (0, len(aem_batch()))


def test_the_first_batch_re_solves_the_base_and_one_step_as_a_check() -> None:
    answerer = ProbeAnswerer(problem(), ProbeSettings("sensitivity"), 1e-12, 5000)
    answer = answerer.answer(aem_batch(), None)
    assert (answer.solved, answer.expanded) == (2, len(aem_batch()) - 2)
    assert answerer.radius == 1.0


def test_a_refuted_check_re_solves_the_batch_and_halves_the_radius(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "SENSITIVITY_CHECK_TOLERANCE", 0.0)
    monkeypatch.setattr(probes, "ABSOLUTE_CHECK_MW", 0.0)
    answerer = ProbeAnswerer(problem(), ProbeSettings("sensitivity"), 1e-12, 5000)
    answer = answerer.answer(aem_batch(), None)
    assert (answer.solved, answer.expanded) == (len(aem_batch()), 0)
    assert answerer.radius == 0.5
    for load, truth in zip(answer.load_mw, exact_loads(), strict=True):
        np.testing.assert_allclose(load, truth, atol=1e-6)


def test_a_probe_beyond_the_radius_is_re_solved() -> None:
    config = traffic_config_from_part(traffic_part(probe_answers="sensitivity",
                                                   probe_radius_per_mwh=0.5))
    answerer = ProbeAnswerer(problem(), config.probes, 1e-12, 5000)
    answer = answerer.answer(aem_batch(), None)
    assert (answer.solved, answer.expanded) == (len(aem_batch()), 0)
    for load, truth in zip(answer.load_mw, exact_loads(), strict=True):
        np.testing.assert_allclose(load, truth, atol=1e-6)


def test_re_solves_stopping_on_the_station_loads_match_the_exact_answers() -> None:
    tolerance = 1e-3
    state = problem().solve(base_price() + 3.0, gap=1e-10)  # the department's latest answer
    settings = ProbeSettings(load_tolerance_mw=tolerance)
    by_loads = ProbeAnswerer(problem(), settings, 1e-14, 5000).answer(aem_batch(), state)
    by_gap = ProbeAnswerer(problem(), ProbeSettings(radius_per_mwh=2.0), 1e-14,
                           5000).answer(aem_batch(), state)
    assert by_loads.failed is None and by_gap.failed is None
    # some stopped on the loads, far above the gap they were given
    assert max(outcome.relative_gap for outcome in by_loads.outcomes) > 1e-12
    assert sum(o.iterations for o in by_loads.outcomes) \
        < sum(o.iterations for o in by_gap.outcomes)
    for loads, gap, truth in zip(by_loads.load_mw, by_gap.load_mw, exact_loads(), strict=True):
        assert np.abs(gap - truth).max() <= 1e-9
        assert np.abs(loads - truth).max() <= tolerance


def test_probe_workers_answer_as_one_process() -> None:
    settings = ProbeSettings(workers=2, load_tolerance_mw=1e-5)
    # warm-started from the department's latest answer (its path sets sent to the workers)
    state = problem().solve(base_price() + 3.0, gap=1e-10)
    parallel = ProbeAnswerer(problem(), settings, 1e-10, 5000)
    try:
        in_parallel = parallel.answer(aem_batch(5.0), state)
    finally:
        parallel.close()
    in_order = ProbeAnswerer(problem(), replace(settings, workers=1), 1e-10,
                             5000).answer(aem_batch(5.0), state)
    assert in_parallel.solved == in_order.solved == len(aem_batch())
    for a, b in zip(in_parallel.load_mw, in_order.load_mw, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("probe_answers", "guess", "traffic.probe_answers: unknown probe answers 'guess'"),
    ("probe_workers", 0, "traffic.probe_workers"),
    ("probe_workers", 1000, "traffic.probe_workers: at most 64"),
    ("probe_radius_per_mwh", -1.0, "traffic.probe_radius_per_mwh"),
    ("probe_load_tolerance_mw", 0.0, "traffic.probe_load_tolerance_mw"),
])
def test_bad_probe_keys_are_refused_naming_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        traffic_config_from_part(traffic_part(**{key: value}))


def test_the_defaults_keep_the_historical_answers() -> None:
    config = traffic_config_from_part(traffic_part())
    assert config.probes.default
    model = TrafficDepartmentModel(config)
    reply = model.probe_responses(aem_batch())
    # the historical chain: each probe warm-started from the previous one, at the gap
    previous = None
    for load, price in zip(reply.load_mw, aem_batch(), strict=True):
        previous = problem().solve(price, gap=config.equilibrium_gap,
                                   max_iterations=config.max_iterations, warm_start=previous)
        np.testing.assert_array_equal(load, previous.station_load_mw.T)


@pytest.mark.parametrize("key", ["probe_answers", "probe_workers", "probe_radius_per_mwh",
                                 "probe_load_tolerance_mw"])
def test_sue_mode_refuses_the_probe_keys(key: str) -> None:
    part = load_scenario().part("traffic")
    data = {name: value for name, value in part.data.items()
            if name not in ("max_shift_periods", "shift_cost_per_period", "equilibrium_gap")}
    values = {"probe_answers": "sensitivity", "probe_workers": 2, "probe_radius_per_mwh": 1.0,
              "probe_load_tolerance_mw": 1e-3}
    data.update(assignment="sue", **{key: values[key]})
    with pytest.raises(InvalidInputError, match=f'traffic.{key}: not used with assignment = "sue"'):
        traffic_config_from_part(replace(part, data=data))


def test_a_large_batch_keeps_path_states_only_where_they_serve() -> None:
    from ptn.services.traffic.probes import SOLVED_POINTS_KEPT

    # probes far apart (each its own re-solve): only the last few stay warm starts
    base = base_price()
    far = [base + 10.0 * (k + 1) for k in range(SOLVED_POINTS_KEPT + 3)]
    answerer = ProbeAnswerer(problem(), ProbeSettings("exact", 1.0, 1, None), 1e-10, 5000)
    answer = answerer.answer(far, None)
    assert answer.solved == len(far)
    kept = [outcome.kept_state for outcome in answer.outcomes]
    assert kept == [False] * 3 + [True] * SOLVED_POINTS_KEPT
    assert all(p.result.warm_start is not None for p in answerer.points)
    # the loads are those of full solves
    for price, load in zip(far, answer.load_mw, strict=True):
        full = problem().solve(price, gap=1e-10, max_iterations=5000)
        np.testing.assert_allclose(load, full.station_load_mw.T, rtol=1e-6, atol=1e-8)


def test_a_batch_beyond_one_pass_is_answered_in_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ptn.services.traffic import probes as probe_module

    batch = aem_batch() + [p + 20.0 for p in aem_batch()]
    whole = ProbeAnswerer(problem(), ProbeSettings("sensitivity", 1.0, 1, None), 1e-10, 5000)
    expected = whole.answer(batch, None)
    monkeypatch.setattr(probe_module, "PROBES_PER_PASS", 3)
    passes = ProbeAnswerer(problem(), ProbeSettings("sensitivity", 1.0, 1, None), 1e-10, 5000)
    sizes: list[int] = []
    one_pass = passes._answer

    def counted(prices: list[np.ndarray], state: object) -> object:
        sizes.append(len(prices))
        return one_pass(prices, state)  # type: ignore[arg-type]

    monkeypatch.setattr(passes, "_answer", counted)
    answer = passes.answer(batch, None)
    assert sizes == [3] * (len(batch) // 3) + ([len(batch) % 3] if len(batch) % 3 else [])
    assert len(answer.load_mw) == len(batch)
    assert len(passes.points) <= probe_module.SOLVED_POINTS_KEPT
    for got, want in zip(answer.load_mw, expected.load_mw, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_a_batch_answer_holds_no_equilibria_beyond_the_kept_points(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the 50-CNO city certificate's 450-probe batches kept every re-solve's equilibrium (~15 MB
    # each on Chicago Sketch) until the batch ended and were killed at 23 GB
    import gc

    from ptn.engines.traffic.multiperiod import MultiPeriodResult
    from ptn.services.traffic import probes as probe_module

    monkeypatch.setattr(probe_module, "PROBES_PER_PASS", 4)
    base = base_price()
    far = [base + 5.0 * (k + 1) for k in range(3 * probe_module.SOLVED_POINTS_KEPT)]
    answerer = ProbeAnswerer(problem(), ProbeSettings("exact", 1.0, 1, None), 1e-10, 5000)
    gc.collect()
    before = sum(isinstance(o, MultiPeriodResult) for o in gc.get_objects())
    answer = answerer.answer(far, None)
    gc.collect()
    alive = sum(isinstance(o, MultiPeriodResult) for o in gc.get_objects()) - before
    assert answer.solved == len(far) and answer.failed is None
    assert alive == len(answerer.points) == probe_module.SOLVED_POINTS_KEPT
    assert all(isinstance(outcome, probe_module.SolveOutcome) for outcome in answer.outcomes)
