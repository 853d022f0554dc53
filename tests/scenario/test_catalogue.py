"""The built-in scenarios (``ptn.scenarios``): every TOML file of the folder, found by name."""

from __future__ import annotations

import pytest

from ptn import scenarios
from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import load_scenario
from tests.support import REPOSITORY

NEEDS_TNTP = {"chicago-city-admm", "chicago-city-game", "pricing-siouxfalls",
              "seed003-siouxfalls-ieee30"}


def test_the_catalogue_is_the_folder() -> None:
    on_disk = sorted(path.stem for path in (REPOSITORY / "scenarios").glob("*.toml"))
    assert list(scenarios.names()) == on_disk
    assert scenarios.DEFAULT in scenarios.names()
    assert scenarios.path("no-such-scenario") is None


@pytest.mark.parametrize("name", sorted(set(scenarios.names()) - NEEDS_TNTP))
def test_every_builtin_loads_by_name(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.source == name
    assert scenario.text == (REPOSITORY / "scenarios" / f"{name}.toml").read_text("utf-8")


@pytest.mark.parametrize("name", sorted(NEEDS_TNTP))
def test_tntp_scenarios_name_the_variable_when_it_is_unset(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ptn.services.hosting import check_part

    monkeypatch.delenv("PTN_TNTP_DIR", raising=False)
    scenario = load_scenario(name)
    with pytest.raises(InvalidInputError, match=r"\$PTN_TNTP_DIR is not set"):
        for operator_id in scenario.operator_ids:
            check_part(scenario.part(operator_id))
