"""The pricing game's scale settings and the reference's time limit as scenario keys.

The settings live in ptn.coordinator.mechanisms.game_settings (defaults: seed 001's behaviour);
the scenario's ``[coordinator]`` carries them under the same names and ``[reference]``
bounds the full-information reference. Each is read from a file, checked naming its key, and
reaches the mechanism's settings.
"""

from __future__ import annotations

from typing import Any

import pytest

import ptn
from ptn.coordinator.mechanisms.game_settings import GameSettings, game_settings
from ptn.engines.errors import InvalidInputError

SEED = "pricing-seed001"


def test_the_defaults_are_the_settings_defaults() -> None:
    scenario = ptn.Scenario.load(SEED)
    assert game_settings(scenario.document.coordinator) == GameSettings()
    assert scenario.document.reference_time_limit_s == 600.0


def test_the_game_keys_reach_the_mechanism() -> None:
    scenario = ptn.Scenario.load(SEED).with_overrides({
        "coordinator.best_response_order": "simultaneous",
        "coordinator.certificate_together": True, "coordinator.probe_batch_max": 40,
        "coordinator.matrix_full_max_cnos": 3, "coordinator.matrix_samples": 5,
        "coordinator.matrix_seed": 7, "coordinator.matrix_batch_probes": 9,
        "reference.time_limit_s": 30})
    settings = game_settings(scenario.document.coordinator)
    assert settings == GameSettings(
        best_response_order="simultaneous", certificate_together=True, probe_batch_max=40,
        matrix_full_max_cnos=3, matrix_samples=5, matrix_seed=7, matrix_batch_probes=9)
    assert scenario.document.reference_time_limit_s == 30.0
    # the reference's limit does not change what is negotiated: a checkpoint still resumes
    base = ptn.Scenario.load(SEED)
    assert scenario.with_overrides({"reference.time_limit_s": 600}).document.fingerprint != \
        base.document.fingerprint  # (the game keys differ)
    assert base.with_overrides({"reference.time_limit_s": 5}).document.fingerprint == \
        base.document.fingerprint


@pytest.mark.parametrize(("overrides", "message"), [
    ({"coordinator.best_response_order": "alternating"}, "coordinator.best_response_order"),
    ({"coordinator.certificate_together": "yes"}, "coordinator.certificate_together"),
    ({"coordinator.matrix_full_max_cnos": 0}, "coordinator.matrix_full_max_cnos"),
    ({"coordinator.probe_batch_max": -1}, "coordinator.probe_batch_max"),
    ({"reference.time_limit_s": 0}, "reference.time_limit_s"),
    ({"reference.colour": "red"}, "reference"),
])
def test_bad_values_name_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace(".", r"\.")):
        ptn.Scenario.load(SEED).with_overrides(overrides)
