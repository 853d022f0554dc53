"""The scenario schema's validation: pydantic's errors become the project's one-line messages
(file, key path, reason), every problem of a file is listed, and a table the mechanism does not
use is refused naming the table and the mechanism."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from ptn.engines.errors import InvalidInputError
from ptn.scenario.document import builtin_scenario_text, load_scenario, scenario_from_text
from ptn.scenario.operator_tables import TrafficTable
from ptn.scenario.validation import file_errors, validate_table
from ptn.services.traffic.config import traffic_config_from_part

DEFAULT = builtin_scenario_text("nguyen-dupuis-ieee33")
GAME = builtin_scenario_text("pricing-seed001")
SHARING = builtin_scenario_text("profit-sharing-nguyen-dupuis")


def test_every_problem_of_a_file_is_listed_with_file_key_and_reason() -> None:
    text = (DEFAULT.replace("periods = 24", 'periods = "24"', 1)
            .replace("ev_share = 0.03", "ev_share = 1.5", 1)
            .replace("node = 10", "node = 10.5", 1)
            .replace("capacity_veh_per_h = 30.0\n", "", 1)
            .replace("[dso.horizon]", "[dso.horizon]\ncolour = 1", 1))
    errors = file_errors(tomllib.loads(text), "my.toml")
    assert errors == [
        "my.toml: dso.horizon.colour: unknown key (allowed: period_hours, load_profile)",
        'my.toml: scenario.periods: expected an integer, got "24"',
        "my.toml: traffic.ev_share: must be in [0, 1], got 1.5",
        "my.toml: traffic.station[1]: missing required key 'capacity_veh_per_h'",
        "my.toml: traffic.station[2].node: expected an integer, got 10.5",
    ]
    assert file_errors(tomllib.loads(DEFAULT), "my.toml") == []


@pytest.mark.parametrize(("data", "message"), [
    ({"ev_share": True}, "t.toml: traffic.ev_share: expected a number, got true"),
    ({"max_iterations": -1}, "t.toml: traffic.max_iterations: must be at least 0, got -1"),
    ({"shift_cost_per_period": -0.5},
     "t.toml: traffic.shift_cost_per_period: must be >= 0, got -0.5"),
    ({"sue_warm_start": 1}, "t.toml: traffic.sue_warm_start: expected true or false, got 1"),
    ({"assignment": "dynamic"},
     "t.toml: traffic.assignment: unknown assignment 'dynamic' (allowed: ue, sue)"),
    ({"network": 3}, "t.toml: traffic.network: expected a string, got 3"),
    ({"demand_profile": 2}, "t.toml: traffic.demand_profile: expected a built-in profile name "
                            "or a list of numbers, got 2"),
    ({"value_of_time_per_h": float("nan")},
     "t.toml: traffic.value_of_time_per_h: expected a finite number, got nan"),
    ({"station": [{"name": "cs6", "node": 6, "capacity_veh_per_h": 1.0, "charging_time_h": 0.5,
                   "davidson_j": 0.5, "colour": "red"}]},
     "t.toml: traffic.station[1].colour: unknown key (allowed: name, node, capacity_veh_per_h, "
     "charging_time_h, davidson_j)"),
    ({"station": 3}, "t.toml: traffic.station: expected an array of tables [[traffic.station]], "
                     "got 3"),
])
def test_a_bad_value_gets_one_message_naming_file_key_and_reason(data: dict[str, object],
                                                                 message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        validate_table(TrafficTable, data, "t.toml", "traffic")
    assert str(error.value) == message
    assert "pydantic" not in str(error.value)


def test_a_missing_table_is_named_as_a_table() -> None:
    text = SHARING.split("[tno.battery]")[0] + "\n[dso]" + SHARING.split("\n[dso]", 1)[1]
    assert "[tno.battery]" not in text
    errors = file_errors(tomllib.loads(text), "s.toml")
    assert errors == ["s.toml: tno: missing required table [tno.battery]"]
    assert file_errors({"coordinator": {}}, "e.toml") == [
        "e.toml: missing required table [scenario]"]


def test_an_unset_key_takes_the_default_the_reference_shows() -> None:
    """``ev_share`` left out: the EV share of the trips is the schema's default (0.05), read
    back from the demand the traffic department builds."""
    assert TrafficTable.model_fields["ev_share"].default == 0.05
    text = DEFAULT.replace("ev_share = 0.03\n", "", 1)
    scenario = scenario_from_text(text, source="d.toml", base_directory=Path.cwd())
    spec = traffic_config_from_part(scenario.part("traffic")).spec
    total = spec.ev_demand_veh_per_h + spec.gv_demand_veh_per_h
    share = spec.ev_demand_veh_per_h.sum() / total.sum()
    assert share == pytest.approx(0.05, rel=1e-12)
    assert np.all(spec.ev_demand_veh_per_h >= 0)


@pytest.mark.parametrize(("text", "table", "mechanism"), [
    (DEFAULT + '\n[cno.cno1]\nstations = ["cs6"]\nprice_min_per_mwh = 1.0\n'
               "price_max_per_mwh = 2.0\n", "cno", "admm"),
    (GAME + "\n[tno]\ntariff_per_mwh = 50.0\n", "tno", "best-response"),
    (DEFAULT.replace("[dso.horizon]", "[dso.pricing]\nseed = 1\n\n[dso.horizon]", 1),
     "dso.pricing", "admm"),
    (SHARING.replace('mechanism = "profit-sharing"', 'mechanism = "admm"', 1), "tno", "admm"),
])
def test_a_table_the_mechanism_does_not_use_is_refused(text: str, table: str,
                                                      mechanism: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        scenario_from_text(text, source="my.toml", base_directory=Path.cwd())
    message = str(error.value)
    assert message.startswith(f"my.toml: {table}: table [{table}")
    assert f"not used by mechanism {mechanism!r}" in message


def test_the_shipped_scenarios_pass_the_schema() -> None:
    from ptn import scenarios

    for name in scenarios.names():
        assert file_errors(tomllib.loads(builtin_scenario_text(name)), name) == [], name
        load_scenario(name)


def test_the_schema_has_a_table_for_every_role() -> None:
    from ptn.scenario.document import MECHANISM_ROLES, ROLES
    from ptn.scenario.schema import MECHANISMS, ScenarioFile

    assert set(ROLES) <= set(ScenarioFile.model_fields)
    assert set(MECHANISMS) == set(MECHANISM_ROLES)
