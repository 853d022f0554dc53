"""A CNO's keys for the city game: ``aem_measure_final`` (the AEM's last price not probed) and
``certificate_search`` (the certificate's compass or verified search), read and checked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import aem_best_response, run_search
from ptn.scenario.document import load_scenario, scenario_from_text
from ptn.services.cno.config import CnoConfig, cno_config_from_part
from ptn.services.cno.contract import TurnStart
from ptn.services.cno.model import CnoModel
from tests.support.cno_cases import (
    PRICING,
    PURCHASE,
    START,
    Oracle,
    interior_case,
    jacobian,
    linear_oracle,
)

SCENARIO = load_scenario("pricing-seed001")
ANCHOR = 'best_response = "aem"\nelasticity = "per-period"\naem_steps = 1\n\n[cno.cno2]'


def config_with(lines: str) -> CnoConfig:
    text = SCENARIO.text.replace(ANCHOR, ANCHOR.replace("\n\n[cno.cno2]",
                                                        f"\n{lines}\n\n[cno.cno2]"), 1)
    scenario = scenario_from_text(text, source="game.toml",
                                  base_directory=SCENARIO.parts["dso"].base_directory)
    return cno_config_from_part(scenario.part("cno1"))


def test_the_defaults_are_the_historical_searches() -> None:
    config = cno_config_from_part(SCENARIO.part("cno1"))
    assert (config.aem_measure_final, config.certificate_search,
            config.certificate_poll_step_per_mwh) == (True, "compass", None)


def test_the_keys_choose_the_searches() -> None:
    config = config_with('aem_measure_final = false\ncertificate_search = "verified"\n'
                         'certificate_poll_step_per_mwh = 5.0')
    assert (config.aem_measure_final, config.certificate_search,
            config.certificate_poll_step_per_mwh) == (False, "verified", 5.0)
    model = CnoModel(config)
    shape = config.pricing.shape
    move = model.start_turn(TurnStart(np.full(shape, 120.0), np.full(shape, 200.0), "exact"))
    # the verified search's first batch: the start and each (station, period) step
    assert len(move.probe_price_per_mwh) == 1 + shape[0] * shape[1]


@pytest.mark.parametrize(("lines", "message"), [
    ('certificate_search = "newton"',
     "cno.cno1.certificate_search: unknown certificate search 'newton'"),
    ("aem_measure_final = 1", "cno.cno1.aem_measure_final: expected true or false"),
    ("certificate_poll_step_per_mwh = -1.0", "cno.cno1.certificate_poll_step_per_mwh"),
])
def test_bad_values_are_refused_naming_the_key(lines: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        config_with(lines)


def test_an_unmeasured_last_step_is_the_measured_one_without_its_probe() -> None:
    j = jacobian(block_diagonal=True)
    p0, _ = interior_case(j)
    measured_calls: list[list[np.ndarray]] = []
    unmeasured_calls: list[list[np.ndarray]] = []
    measured = run_search(aem_best_response(PRICING, PURCHASE, START),
                          linear_oracle(p0, j, measured_calls))
    unmeasured = run_search(aem_best_response(PRICING, PURCHASE, START, measure_final=False),
                            linear_oracle(p0, j, unmeasured_calls))
    assert len(measured_calls) == 2 and len(unmeasured_calls) == 1
    np.testing.assert_array_equal(unmeasured.price_per_mwh, measured.price_per_mwh)
    # per-period probes of a block-diagonal linear response: the model's loads are the truth
    np.testing.assert_allclose(unmeasured.load_mw, measured.load_mw, rtol=1e-9)
    assert unmeasured.revenue_usd == pytest.approx(measured.revenue_usd, rel=1e-9)
    assert "not probed" in unmeasured.message


#: the synthetic CNO's purchase price in the trust-region test ($/MWh): low enough that its
#: linear loads stay positive
CHEAP = np.full(START.shape, 60.0)


def play_turn(model: CnoModel, current: np.ndarray, oracle: Oracle) -> np.ndarray:
    """One AEM turn of ``model`` from ``current``, its probes answered by ``oracle``."""
    move = model.start_turn(TurnStart(CHEAP, current, None))
    while move.probe_price_per_mwh:
        move = model.answer_probes(oracle([np.asarray(p) for p in move.probe_price_per_mwh]))
    assert move.price_per_mwh is not None
    return np.asarray(move.price_per_mwh)


def optimum_at(target: float) -> Oracle:
    """A linear load response, each price's own, whose revenue peaks at ``target`` in every
    price (far beyond a 4 $/MWh radius): P = P0 − 0.05 (α − 200), P0 = 0.05 (2·target −
    200 − λ)."""
    j = -0.05 * np.eye(START.size)
    goal = np.full(START.size, target)
    p0 = -(j @ (goal - START.ravel()) + j.T @ (goal - CHEAP.ravel()))
    return linear_oracle(p0, j)


def test_an_adaptive_trust_region_halves_the_radius_of_a_reversing_price() -> None:
    read = config_with("trust_region_per_mwh = 4.0\ntrust_region_shrink = 0.5")
    assert (read.trust_region_per_mwh, read.trust_region_shrink) == (4.0, 0.5)
    # on the synthetic CNO (two stations, four periods) of tests/support/cno_cases.py
    config = replace(read, pricing=PRICING, periods=START.shape[1])
    model = CnoModel(config)
    up, down = optimum_at(245.0), optimum_at(155.0)
    price = play_turn(model, START, up)
    np.testing.assert_allclose(price - START, 4.0)  # the whole radius up
    price_2 = play_turn(model, price, down)
    np.testing.assert_allclose(price_2 - price, -4.0)  # reversed: whole radius down ...
    np.testing.assert_allclose(model.trust_region.radius, 2.0)  # ... and halved
    price_3 = play_turn(model, price_2, up)
    np.testing.assert_allclose(price_3 - price_2, 2.0)  # reversed again: 1.0 from now
    np.testing.assert_allclose(model.trust_region.radius, 1.0)
    # its snapshot carries the radii: a restored CNO moves as the original would
    restored = CnoModel(config)
    restored.restore(model.snapshot())
    np.testing.assert_array_equal(play_turn(restored, price_3, down),
                                  play_turn(model, price_3, down))
    # a fixed radius (no shrink) keeps moving by 4 $/MWh
    fixed = CnoModel(replace(config, trust_region_shrink=None))
    assert fixed.trust_region is None
    step = play_turn(fixed, play_turn(fixed, START, up), down)
    np.testing.assert_allclose(step, START)


def test_a_shrink_without_a_radius_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidInputError, match=r"cno\.cno1\.trust_region_shrink: needs "
                                                r"trust_region_per_mwh"):
        config_with("trust_region_shrink = 0.5")
    with pytest.raises(InvalidInputError, match=r"cno\.cno1\.trust_region_shrink"):
        config_with("trust_region_per_mwh = 4.0\ntrust_region_shrink = 1.5")
