"""The DSO's ``feeder`` key: a net with several supply points is several feeders of one DSO."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ptn.engines.errors import InvalidInputError
from ptn.engines.power.builtin_feeders import load_feeders
from ptn.scenario.document import builtin_scenario_text, load_scenario
from ptn.services.dso.config import dso_config_from_part

DEFAULT = builtin_scenario_text("nguyen-dupuis-ieee33")


def test_a_named_net_with_two_supply_points_becomes_two_named_feeders(tmp_path: Path) -> None:
    text = DEFAULT.replace(
        'feeder = "case33bw"',
        'feeder = ["case33bw", {name = "oberrhein", case = "mv_oberrhein"}]',
    )
    # with several feeders every device says which one it is on
    devices = re.compile(r"^(\[\[dso\.\w+\]\])$", re.MULTILINE)
    text = devices.sub(r'\1\nfeeder = "case33bw"', text)
    assert text.count('feeder = "case33bw"') >= 9
    path = tmp_path / "two-dsos.toml"
    path.write_text(text)
    config = dso_config_from_part(load_scenario(path).part("dso"))
    feeders = config.case.feeders
    assert [f.name for f in feeders] == ["case33bw", "oberrhein/0", "oberrhein/1"]
    halves = load_feeders("mv_oberrhein")
    # the halves keep their own buses (pandapower's mv_oberrhein: 70 and 109 after conversion)
    assert [f.num_buses for f in feeders[1:]] == [h.num_buses for h in halves]
    assert sum(h.num_buses for h in halves) > 33
    assert all(not f.upstream_cost.has_cost_data for f in feeders[1:])
    assert {p.name for p in config.case.charging_points} == {"cs6", "cs10", "cs11"}


def test_devices_must_name_their_feeder_when_the_dso_has_several(tmp_path: Path) -> None:
    path = tmp_path / "unnamed.toml"
    path.write_text(DEFAULT.replace('feeder = "case33bw"', 'feeder = "mv_oberrhein"'))
    with pytest.raises(InvalidInputError, match=r"dso: micro_turbine\[1\]: the DSO has 2 "
                                                r"feeders; name one with 'feeder'"):
        dso_config_from_part(load_scenario(path).part("dso"))
