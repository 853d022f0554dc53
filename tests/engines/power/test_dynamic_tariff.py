"""Seed 002's load-following tariff (eq. 22), its periods worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.dynamic_tariff import (
    CONVERGED,
    CYCLE,
    FLAT,
    MAX_ITERATIONS,
    PEAK,
    VALLEY,
    TariffLevels,
    dynamic_tariff,
    equivalent_load_mw,
    period_classes,
    table_1_levels,
    tariff_fixed_point,
)

TABLE_1 = TariffLevels(peak_per_mwh=1090.0, flat_per_mwh=680.0, valley_per_mwh=350.0)


def test_periods_by_hand() -> None:
    # loads 1..10 MW: mean 5.5, peak-to-valley 9; σ = 0.2 puts the band at 5.5 ± 1.8 = [3.7, 7.3]
    load = np.arange(1.0, 11.0)
    expected = [VALLEY] * 3 + [FLAT] * 4 + [PEAK] * 3
    assert period_classes(load, 0.2).tolist() == expected
    assert dynamic_tariff(load, 0.2, TABLE_1).tolist() == [350.0] * 3 + [680.0] * 4 + [1090.0] * 3


def test_boundaries_follow_eq_22() -> None:
    # mean 2, peak-to-valley 4, σ = 0.5: thresholds 0 and 4; eq. 22 puts P_eq = P_av + σP_h in
    # the peak and P_eq = P_av − σP_h in the flat period
    assert period_classes([0.0, 2.0, 4.0], 0.5).tolist() == [FLAT, FLAT, PEAK]
    # σ = 0: above the mean is peak (the mean itself too), below it valley
    assert period_classes([1.0, 3.0, 2.0, 2.0], 0.0).tolist() == [VALLEY, PEAK, PEAK, PEAK]
    # a flat load has neither peak nor valley
    assert period_classes([2.0, 2.0, 2.0], 0.1).tolist() == [FLAT] * 3


def test_equivalent_load_adds_charging_over_stations() -> None:
    base = np.array([3.0, 4.0, 5.0])
    charging = np.array([[0.5, 0.0, 1.0], [0.25, 0.0, 0.0]])
    assert equivalent_load_mw(base, charging).tolist() == [3.75, 4.0, 6.0]
    assert equivalent_load_mw(base, charging.sum(axis=0)).tolist() == [3.75, 4.0, 6.0]
    with pytest.raises(InvalidInputError, match="charging_load_mw"):
        equivalent_load_mw(base, np.ones(4))


def test_levels_from_delta_and_validation() -> None:
    assert table_1_levels() == TABLE_1
    levels = TariffLevels.from_delta(600.0, 0.5)
    assert (levels.peak_per_mwh, levels.flat_per_mwh, levels.valley_per_mwh) == (900, 600, 300)
    with pytest.raises(InvalidInputError, match="valley <= flat <= peak"):
        TariffLevels(peak_per_mwh=500.0, flat_per_mwh=680.0, valley_per_mwh=350.0)
    with pytest.raises(InvalidInputError, match="sigma"):
        period_classes([1.0, 2.0], 0.7)
    with pytest.raises(InvalidInputError, match="equivalent_load_mw"):
        period_classes([1.0, np.nan], 0.1)


def test_fixed_point_cycle_by_hand() -> None:
    # base 4, 6, 8 MW (mean 6, spread 4, σ = 0.25: band 6 ± 1): valley, flat, peak. The EVs
    # charge 5 MW in any valley period, nothing otherwise:
    # P_eq 9, 6, 8 (mean 23/3, spread 3, band 23/3 ± 0.75): peak, valley, flat;
    # P_eq 4, 11, 8 (mean 23/3, spread 7, band 23/3 ± 1.75): valley, peak, flat;
    # P_eq 9, 6, 8 again: the classes cycle.
    def response(tariff: np.ndarray) -> np.ndarray:
        return np.where(tariff == 350.0, 5.0, 0.0)

    result = tariff_fixed_point(response, [4.0, 6.0, 8.0], 0.25, TABLE_1)
    assert result.status == CYCLE and not result.converged
    assert result.history == ((VALLEY, FLAT, PEAK), (PEAK, VALLEY, FLAT), (VALLEY, PEAK, FLAT))
    assert result.iterations == 3
    assert result.classes.tolist() == [VALLEY, PEAK, FLAT]
    assert result.tariff_per_mwh.tolist() == [350.0, 1090.0, 680.0]
    assert result.equivalent_load_mw.tolist() == [9.0, 6.0, 8.0]
    capped = tariff_fixed_point(response, [4.0, 6.0, 8.0], 0.25, TABLE_1, max_iterations=2)
    assert capped.status == MAX_ITERATIONS and capped.iterations == 2


def test_fixed_point_reached_after_a_move() -> None:
    # the same base; 3 MW of charging in period 0 whatever the price: P_eq 7, 6, 8 (mean 7,
    # spread 2, band 7 ± 0.5): flat, valley, peak, which the same charging then reproduces
    result = tariff_fixed_point(lambda tariff: np.array([3.0, 0.0, 0.0]), [4.0, 6.0, 8.0],
                                0.25, TABLE_1)
    assert result.status == CONVERGED and result.converged
    assert result.iterations == 2
    assert result.history == ((VALLEY, FLAT, PEAK), (FLAT, VALLEY, PEAK))
    assert result.classes.tolist() == [FLAT, VALLEY, PEAK]
    assert result.tariff_per_mwh.tolist() == [680.0, 350.0, 1090.0]
    assert result.equivalent_load_mw.tolist() == [7.0, 6.0, 8.0]
    # charging spread evenly over two stations keeps the base load's classes
    steady = tariff_fixed_point(lambda tariff: np.full((2, tariff.size), 0.5), [4.0, 6.0, 8.0],
                                0.25, TABLE_1)
    assert steady.converged and steady.iterations == 1
    assert steady.classes.tolist() == [VALLEY, FLAT, PEAK]
    assert steady.charging_load_mw.shape == (2, 3)
    assert steady.equivalent_load_mw.tolist() == [5.0, 7.0, 9.0]
