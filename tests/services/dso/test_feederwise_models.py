"""The DSO's models built feeder by feeder (issue 18) answer as its single-problem models did.

The DSO now solves its fixed-load dispatch and ADMM step with one cvxpy problem per feeder
(:class:`~ptn.engines.power.feeder_blocks.FeederwiseOpf`) and its seed-001 pricing step over
those feeders' solver data with the fitted response as numbers
(:class:`~ptn.engines.power.feeder_pricing.FeederwisePricingProblem`). The reference is the same
DSO model given the single-problem engines it used before (``DistFlowOpf`` over all feeders and
``DsoPricingProblem`` with the response as cvxpy Parameters), on the built-in pricing scenarios
(seed 001: two case18 feeders, one price per bus; Sioux Falls: four case33bw feeders, ten
stations), fed the same observed loads from a known response.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ptn.engines.coupling import CouplingTerms
from ptn.engines.errors import InvalidInputError
from ptn.engines.power.distflow import ChargingMode, DistFlowOpf
from ptn.engines.power.pricing import DsoPricingProblem
from ptn.scenario.document import builtin_scenario_text, load_scenario
from ptn.services.dso.model import DsoModel


def single_problem_model(part: Any) -> DsoModel:
    """The DSO model with the single-problem engines of before issue 18."""
    model = DsoModel.from_part(part)
    settings = model.config.pricing
    built: dict[str, Any] = {}

    def opf(mode: ChargingMode) -> Any:
        if mode not in built:
            built[mode] = DistFlowOpf(model.config.case, charging=mode,
                                      formulation=model.config.formulation)  # type: ignore[arg-type]
        return built[mode]

    def pricing_problem() -> Any:
        assert settings is not None
        if "pricing" not in built:
            built["pricing"] = DsoPricingProblem(model.config.case, settings.limits,
                                                 proximal_weight=settings.proximal_weight,
                                                 price_groups=model.config.price_groups)
        return built["pricing"]

    model.opf = opf  # type: ignore[method-assign]
    model.pricing_problem = pricing_problem  # type: ignore[method-assign]
    return model


def observed_loads(price: np.ndarray) -> np.ndarray:
    """A known response: 0.45 MW at 100 $/MWh, −0.004 MW per $/MWh of its own price, +0.0005
    per $/MWh of the next station's."""
    own = 0.45 - 0.004 * (price - 100.0)
    return np.asarray(own + 0.0005 * (np.roll(price, 1, axis=0) - 100.0), dtype=np.float64)


def test_feeder_workers_solve_the_feeders_on_threads_with_the_same_answers(
        tmp_path: Path) -> None:
    text = builtin_scenario_text("pricing-siouxfalls")
    assert "\n[dso]\n" in text
    path = tmp_path / "workers.toml"
    path.write_text(text.replace("\n[dso]\n", "\n[dso]\nfeeder_workers = 2\n"))
    threaded = DsoModel.from_part(load_scenario(path).part("dso"))
    plain = DsoModel.from_part(load_scenario("pricing-siouxfalls").part("dso"))
    assert (threaded.config.feeder_workers, plain.config.feeder_workers) == (2, 1)
    loads = observed_loads(np.full((len(plain.stations), plain.periods), 110.0))
    ours, theirs = threaded.dispatch(loads, "n"), plain.dispatch(loads, "n")
    assert ours.cost_usd == theirs.cost_usd
    assert ours.price_per_mwh is not None and theirs.price_per_mwh is not None
    np.testing.assert_array_equal(ours.price_per_mwh, theirs.price_per_mwh)
    path.write_text(text.replace("\n[dso]\n", "\n[dso]\nfeeder_workers = 0\n"))
    with pytest.raises(InvalidInputError, match="feeder_workers"):
        DsoModel.from_part(load_scenario(path).part("dso"))


@pytest.mark.parametrize("name", ["pricing-seed001", "pricing-siouxfalls"])
def test_quotes_dispatch_and_admm_step_equal_the_single_problem_models(name: str) -> None:
    part = load_scenario(name).part("dso")
    ours, theirs = DsoModel.from_part(part), single_problem_model(part)
    loads = None
    fitted = 0
    for k in range(8):
        quote = ours.quote_prices("n", loads)
        reference = theirs.quote_prices("n", loads)
        assert quote.trial == reference.trial == (k < 5)
        assert quote.status == reference.status, (quote.message, reference.message)
        if quote.trial:
            np.testing.assert_array_equal(quote.price_per_mwh, reference.price_per_mwh)
        else:
            fitted += 1
            # to solver tolerance (a 1e-7 gap leaves prices to ~1e-3 $/MWh: ϖ = 0.2)
            np.testing.assert_allclose(quote.price_per_mwh, reference.price_per_mwh,
                                       rtol=2e-5)
            assert not np.allclose(quote.price_per_mwh, quote.price_per_mwh.mean())
        # both go on from the reference's quote, so the histories stay identical
        loads = observed_loads(reference.price_per_mwh)
        ours._history.quotes[-1] = reference.price_per_mwh  # type: ignore[union-attr]
    assert fitted == 3

    ours_dispatch = ours.dispatch(loads, "n")
    their_dispatch = theirs.dispatch(loads, "n")
    assert ours_dispatch.status == their_dispatch.status
    assert ours_dispatch.cost_usd == pytest.approx(their_dispatch.cost_usd, rel=1e-6)
    assert ours_dispatch.price_per_mwh is not None and their_dispatch.price_per_mwh is not None
    np.testing.assert_allclose(ours_dispatch.price_per_mwh, their_dispatch.price_per_mwh,
                               atol=2e-3)
    assert ours_dispatch.revenue_usd == pytest.approx(their_dispatch.revenue_usd, rel=1e-6)

    periods, stations = ours.periods, ours.stations
    terms = CouplingTerms.supplier(np.full((len(stations), periods), 110.0), 5.0, loads,
                                   ours.config.case.period_hours, stations)
    step, reference_step = ours.consensus_step(terms), theirs.consensus_step(terms)
    assert step.status == reference_step.status
    assert step.load_mw is not None and reference_step.load_mw is not None
    np.testing.assert_allclose(step.load_mw, reference_step.load_mw, atol=1e-4)
    # the step's objective holds the coupling terms too: at a 1e-7 gap, the cost alone agrees
    # to a few 1e-6 (0.2 $ of 76,813 $ on seed 001)
    assert ours.report_cost().cost_usd == pytest.approx(theirs.report_cost().cost_usd, rel=1e-5)
