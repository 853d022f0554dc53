"""The larger pricing game: Sioux Falls, four CNOs, ten stations, four IEEE 33 feeders.

The example ``scenarios/pricing-siouxfalls.toml`` reads the network from ``$PTN_TNTP_DIR``; this
test points the variable at the TNTP data (skipping without it, failing under CI) and plays a
shortened game in-process: the Nash variant only, 8 rounds (the 5 DSO trial rounds and 3
fitted ones), no certificate and no revenue matrix (the full game takes about 3 minutes). It
checks the bounds every party must respect and that every station is used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ptn.coordinator.outcome import NegotiationStatus
from ptn.coordinator.runner import negotiate
from ptn.coordinator.runtime.backends import inproc_endpoints
from ptn.scenario.document import load_scenario
from tests.support import REPOSITORY

EXAMPLE = REPOSITORY / "scenarios" / "pricing-siouxfalls.toml"
SHORTENINGS = {
    "max_rounds = 30": "max_rounds = 8",
    'variants = ["nash", "cooperative"]': 'variants = ["nash"]',
    "certificate = true": "certificate = false",
    "revenue_matrix = true": "revenue_matrix = false",
}


def test_shortened_sioux_falls_game_respects_every_bound(
    tntp_directory: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = tntp_directory("SiouxFalls")
    monkeypatch.setenv("PTN_TNTP_DIR", str(network.parent))
    text = EXAMPLE.read_text("utf-8")
    assert 'network = "$PTN_TNTP_DIR/SiouxFalls"' in text
    for old, new in SHORTENINGS.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "pricing-siouxfalls-short.toml"
    path.write_text(text, "utf-8")
    scenario = load_scenario(path)
    cnos = scenario.operators_of("cno")
    stations = scenario.public.stations
    assert len(cnos) >= 4
    assert len(stations) >= 10

    outcome = negotiate(scenario, inproc_endpoints(scenario))

    assert outcome.status != NegotiationStatus.FAILED, outcome.message
    assert set(outcome.variants) == {"nash"}
    nash = outcome.variants["nash"]
    assert len(nash.outcome.rounds) == 8
    assert sorted(s for owned in nash.cnos.values() for s in owned) == sorted(stations)
    assert all(len(owned) >= 2 for owned in nash.cnos.values())
    shape = (len(stations), scenario.public.periods)
    dso, charging, load = nash.dso_price_per_mwh, nash.charging_price_per_mwh, nash.load_mw
    assert dso.shape == charging.shape == load.shape == shape
    tolerance = 1e-6
    assert np.all(dso >= 80.0 - tolerance) and np.all(dso <= 180.0 + tolerance)
    assert np.all(dso.mean(axis=1) <= 120.0 + tolerance)  # equal periods: the time-average
    assert np.all(charging >= 150.0 - tolerance) and np.all(charging <= 250.0 + tolerance)
    assert np.all(load >= -tolerance)
    assert np.all(load.max(axis=1) > 0.0), dict(zip(stations, load.max(axis=1), strict=True))
    assert all(np.isfinite(revenue) for revenue in nash.revenue_usd.values())
