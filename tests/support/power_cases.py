"""DSO helpers several test modules share: the OPF alone with fixed charging loads."""

from __future__ import annotations

import numpy as np

from ptn.engines.power.der import DsoCase
from ptn.engines.power.distflow import DistFlowOpf
from ptn.engines.power.result import OpfResult


def by_name(values: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    return np.stack([values[name] for name in names])


def dso_alone(case: DsoCase, names: tuple[str, ...], load_mw: np.ndarray) -> OpfResult:
    opf = DistFlowOpf(case, charging="fixed")
    order = [names.index(point) for point in opf.charging_names]
    opf.set_charging_load(np.maximum(load_mw[order], 0.0))
    result = opf.solve()
    assert result.status == "optimal", result.message
    return result
