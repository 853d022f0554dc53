"""The city-scale scenarios (issue 18): their size, and the rule that wrote them.

``chicago-city-game`` and ``chicago-city-admm`` are written by bench/city_scenario.py from
Chicago Sketch's node coordinates; this checks what the issue asks of them (≥ 100 stations,
≥ 20 feeders under one DSO, ≥ 50 CNOs), that every operator's part validates against the real
network, and the layout rule's promises (balanced feeders, one station per bus, each CNO's
stations on different feeders) recomputed from the files, not from the generator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import ptn
from bench.city_scenario import city_layout, scenario_text


@pytest.fixture
def chicago(tntp_directory: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tntp_directory("ChicagoSketch")
    monkeypatch.setenv("PTN_TNTP_DIR", str(directory.parent))
    return directory


@pytest.mark.parametrize("name", ["chicago-city-game", "chicago-city-admm"])
def test_the_city_scenarios_have_the_issues_size_and_validate(name: str, chicago: Path) -> None:
    from ptn.services.hosting import check_part

    scenario = ptn.Scenario.load(name)
    document = scenario.document
    for operator_id in document.operator_ids:
        check_part(document.part(operator_id))
    dso = document.part("dso").data
    feeders = [f["name"] for f in dso["feeder"]]
    points = dso["charging_point"]
    assert len(document.public.stations) >= 100 and len(feeders) >= 20
    assert len(points) == len(document.public.stations)
    per_feeder = Counter(p["feeder"] for p in points)
    assert set(per_feeder) == set(feeders)
    assert max(per_feeder.values()) - min(per_feeder.values()) <= 1
    assert len({(p["feeder"], p["bus"]) for p in points}) == len(points)
    if name == "chicago-city-game":
        cnos = document.operators_of("cno")
        assert len([c for c in cnos if c != "cno-alliance"]) >= 50
        feeder_of = {p["name"]: p["feeder"] for p in points}
        owned: list[str] = []
        for cno in cnos:
            if cno == "cno-alliance":
                continue
            stations = document.part(cno).data["stations"]
            assert len({feeder_of[s] for s in stations}) == len(stations)
            owned += stations
        assert sorted(owned) == sorted(document.public.stations)


def test_the_rule_writes_the_shipped_file(chicago: Path) -> None:
    """The shipped scenario is the rule's output (regenerate with python -m bench.city_scenario)."""
    layout = city_layout(chicago, stations=100, feeders=20, cnos=50)
    text = scenario_text(layout, name="chicago-city-game", mechanism="pricing",
                         network="ChicagoSketch", feeders=20, periods=4,
                         command="python -m bench.city_scenario")
    shipped = (Path(ptn.scenarios.folder()) / "chicago-city-game.toml").read_text("utf-8")
    assert text == shipped
