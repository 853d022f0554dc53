"""A CNO's keys for the city game: ``aem_measure_final`` (the AEM's last price not probed) and
``certificate_search`` (the certificate's compass or verified search), read and checked."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.games.cno_response import aem_best_response, run_search
from ptn.scenario.document import load_scenario, scenario_from_text
from ptn.services.cno.config import CnoConfig, cno_config_from_part
from ptn.services.cno.contract import TurnStart
from ptn.services.cno.model import CnoModel
from tests.support.cno_cases import PRICING, PURCHASE, START, interior_case, jacobian, linear_oracle

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
