"""The DSO's response fit at many stations (seed 001 eq. 35 with ``sym(F_t) ⪯ 0``) solved by
accelerated projected gradient, checked against the same problem solved as an SDP by cvxpy and
Clarabel (the small fits' method), on histories whose unconstrained fit violates the
constraint."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.power import pricing
from ptn.engines.power.pricing import PROJECTED_FIT_MIN_STATIONS, fit_load_response

STATIONS = PROJECTED_FIT_MIN_STATIONS + 5
PERIODS, POINTS = 2, 6


def violating_history(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Prices and loads whose loads rise with their own and the others' prices (a positive
    definite response: the unconstrained fit breaks ``sym(F) ⪯ 0``)."""
    rng = np.random.default_rng(seed)
    price = 100.0 + 20.0 * rng.standard_normal((POINTS, STATIONS, PERIODS))
    mix = rng.standard_normal((STATIONS, STATIONS))
    response = 0.01 * (mix @ mix.T + np.eye(STATIONS))  # positive definite, MW per $/MWh
    load = np.einsum("jk,ikt->ijt", response, price) + 0.05 * rng.standard_normal(
        (POINTS, STATIONS, PERIODS))
    return price, load


@pytest.mark.parametrize("seed", [0, 1])
def test_the_projected_fit_is_the_sdps(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    price, load = violating_history(seed)
    weights = pricing.history_weights(POINTS)
    real_sdp = pricing._fit_sdp
    monkeypatch.setattr(pricing, "_fit_sdp", None)  # the projected fit needs no SDP
    projected = fit_load_response(price, load, weights)
    assert projected.status == "optimal"
    # the same fit with the projected gradient switched off: the SDP (cvxpy, Clarabel)
    monkeypatch.setattr(pricing, "_fit_sdp", real_sdp)
    monkeypatch.setattr(pricing, "PROJECTED_FIT_MIN_STATIONS", STATIONS + 1)
    sdp = fit_load_response(price, load, weights)
    assert sdp.status in ("optimal", "inaccurate")
    for slope in (projected.slope, sdp.slope):  # both within the constraint
        symmetric = 0.5 * (slope + np.transpose(slope, (0, 2, 1)))
        assert np.linalg.eigvalsh(symmetric)[:, -1].max() <= 1e-9 * np.abs(slope).max()
    # the unconstrained fit breaks it: the constraint is active
    assert np.abs(projected.slope).max() > 0
    np.testing.assert_allclose(projected.slope, sdp.slope, rtol=0,
                               atol=1e-4 * np.abs(sdp.slope).max())
    np.testing.assert_allclose(projected.intercept_mw, sdp.intercept_mw, rtol=0,
                               atol=1e-5 * np.abs(sdp.intercept_mw).max())
    assert projected.rms_residual_mw == pytest.approx(sdp.rms_residual_mw, rel=1e-5)


def test_a_projected_fit_that_does_not_converge_falls_back_to_the_sdp(
        monkeypatch: pytest.MonkeyPatch) -> None:
    price, load = violating_history(2)
    monkeypatch.setattr(pricing, "PROJECTED_FIT_MAX_STEPS", 2)
    calls: list[int] = []
    real = pricing._fit_sdp

    def counting(*arguments: object, **options: object) -> object:
        calls.append(1)
        return real(*arguments, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(pricing, "_fit_sdp", counting)
    fit = fit_load_response(price, load)
    assert calls == [1] and fit.status in ("optimal", "inaccurate")
