"""``[traffic] probe_answers = "derivative"``: expansions kept, checks reported, not fallbacks.

On seed 001's traffic department (Nguyen–Dupuis, six periods), AEM-like batches (a base, then
each station 1 $/MWh higher in every period) against equilibria solved here at a gap of 1e-12
and the expansion computed here from the base's own sensitivities.
"""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.traffic.load_sensitivity import load_sensitivity
from ptn.services.traffic import probes
from ptn.services.traffic.config import ProbeSettings, traffic_config_from_part
from ptn.services.traffic.probes import ProbeAnswerer
from tests.services.traffic.test_probe_answers import problem, traffic_part


def batch(step: float) -> list[np.ndarray]:
    spec = problem().spec
    base = np.random.default_rng(3).uniform(200.0, 240.0, (spec.charging.num_stations,
                                                           spec.num_periods))
    out = [base]
    for m in range(base.shape[0]):
        probe = base.copy()
        probe[m] += step
        out.append(probe)
    return out


def test_the_key_is_read_and_checked() -> None:
    config = traffic_config_from_part(traffic_part(probe_answers="derivative",
                                                   probe_radius_per_mwh=0.25))
    assert config.probes == ProbeSettings("derivative", 0.25, 1, None)


def test_a_refuting_check_is_reported_and_the_expansion_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a check tolerance no expansion meets: "sensitivity" would re-solve everything
    monkeypatch.setattr(probes, "SENSITIVITY_CHECK_TOLERANCE", 0.0)
    monkeypatch.setattr(probes, "ABSOLUTE_CHECK_MW", 0.0)
    answerer = ProbeAnswerer(problem(), ProbeSettings("derivative"), 1e-12, 5000)
    probes_ = batch(1.0)
    answer = answerer.answer(probes_, None)
    assert (answer.solved, answer.expanded) == (2, len(probes_) - 2)
    assert answerer.radius == 1.0
    [check] = answerer.checks
    assert check.distance_per_mwh == 1.0 and check.error_mw > 0.0
    # the answers are the base's own expansion (computed here), not the re-solved check
    base = problem().solve(probes_[0], gap=1e-12, max_iterations=5000)
    np.testing.assert_allclose(answer.load_mw[0], base.station_load_mw.T, atol=1e-7)
    sensitivity = load_sensitivity(answerer.points[0].result)
    for load, price in zip(answer.load_mw[1:], probes_[1:], strict=True):
        np.testing.assert_allclose(load, sensitivity.expand(price).station_load_mw.T,
                                   rtol=1e-12, atol=1e-12)
    # ... which the check measured against the exact re-solve of a farthest (the first) step
    exact = problem().solve(probes_[1], gap=1e-12, max_iterations=5000,
                            warm_start=base).station_load_mw.T
    assert check.error_mw == pytest.approx(float(np.abs(answer.load_mw[1] - exact).max()),
                                           rel=1e-3, abs=1e-8)
    # a second batch around the checked point: no re-solve, no new check
    again = answerer.answer(probes_, answerer.points[0].result)
    assert (again.solved, len(answerer.checks)) == (0, 1)


def test_finite_differences_of_the_answers_are_the_derivative_whatever_the_step() -> None:
    answerer = ProbeAnswerer(problem(), ProbeSettings("derivative"), 1e-12, 5000)
    coarse = answerer.answer(batch(1.0), None)
    fine = answerer.answer(batch(0.01), answerer.points[0].result)
    assert fine.solved == 0  # within the checked radius of the first batch's base
    for a, b in zip(coarse.load_mw[1:], fine.load_mw[1:], strict=True):
        np.testing.assert_allclose((a - coarse.load_mw[0]) / 1.0,
                                   (b - fine.load_mw[0]) / 0.01, rtol=1e-6, atol=1e-9)


def test_a_first_order_answer_below_zero_is_a_zero_load() -> None:
    # a radius wide enough that a station priced far up is still answered by expansion
    answerer = ProbeAnswerer(problem(), ProbeSettings("derivative", 500.0), 1e-12, 5000)
    base = batch(1.0)[0]
    far = base.copy()
    far[0] += 300.0  # first order: station 0's load falls far below zero
    sensitivity = load_sensitivity(problem().solve(base, gap=1e-12, max_iterations=5000))
    first_order = sensitivity.expand(far).station_load_mw.T
    assert first_order[0].min() < 0.0
    answer = answerer.answer([base, far], None)
    # the far probe was expanded (and, as the point's first check, re-solved and reported)
    assert [round(c.distance_per_mwh, 9) for c in answerer.checks] == [300.0]
    np.testing.assert_allclose(answer.load_mw[1], np.maximum(first_order, 0.0), rtol=1e-9,
                               atol=1e-9)
