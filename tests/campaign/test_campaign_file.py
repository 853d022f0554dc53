"""The campaign file: its validation (errors name the key), the trials it expands to, their ids
and the campaign's fingerprint; the ``--placement FILE`` override of a scenario's table.

Counts are checked against the product written out by hand; random samples against their
ranges and against a second expansion; ids against the definition (the same overrides written
as nested tables or dotted keys are the same trial).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import ptn
from ptn.api import placement_overrides
from ptn.campaign.runner import base_seeds, prepare, trial_placement
from ptn.campaign.spec import load_campaign, parse_campaign
from ptn.campaign.trials import campaign_fingerprint, expand, trial_id
from ptn.engines.errors import InvalidInputError


def campaign(**tables: Any) -> dict[str, Any]:
    return {"campaign": {"scenario": "nguyen-dupuis-ieee33"}, **tables}


def test_grid_sets_samples_and_repetitions_multiply() -> None:
    parsed = parse_campaign(campaign(
        campaign={"scenario": "nguyen-dupuis-ieee33", "repetitions": 3},
        grid={"traffic": {"ev_share": [0.02, 0.03]}, "coordinator.tolerance": [1e-4, 1e-5, 1e-6]},
        sets=[{"coordinator.max_rounds": 50}, {"coordinator.max_rounds": 80}],
        random={"samples": 4, "seed": 7, "parameters": {
            "coordinator.initial_penalty_per_mw2h": {"log-uniform": [1.0, 100.0]},
            "coordinator.residual_balancing": {"choice": [True, False]}}}))
    trials = expand(parsed, {})
    assert len(trials) == 2 * 3 * 2 * 4 * 3  # sets × grid × samples × repetitions
    assert len({t.trial_id for t in trials}) == len(trials)
    assert parsed.varied == ("traffic.ev_share", "coordinator.tolerance",
                             "coordinator.max_rounds", "coordinator.initial_penalty_per_mw2h",
                             "coordinator.residual_balancing")
    penalties = {t.overrides["coordinator.initial_penalty_per_mw2h"] for t in trials}
    assert len(penalties) == 4 and all(1.0 <= p <= 100.0 for p in penalties)
    assert {t.repetition for t in trials} == {0, 1, 2}
    again = expand(parsed, {})
    assert [t.trial_id for t in again] == [t.trial_id for t in trials]  # seeded samples
    other_seed = parse_campaign(campaign(random={"samples": 4, "seed": 8, "parameters": {
        "coordinator.initial_penalty_per_mw2h": {"log-uniform": [1.0, 100.0]}}}))
    assert {t.overrides["coordinator.initial_penalty_per_mw2h"]
            for t in expand(other_seed, {})}.isdisjoint(penalties)


def test_log_uniform_samples_are_uniform_in_the_logarithm() -> None:
    parsed = parse_campaign(campaign(random={"samples": 2000, "seed": 1, "parameters": {
        "coordinator.initial_penalty_per_mw2h": {"log-uniform": [1.0, 10000.0]}}}))
    logs = [math.log10(t.overrides["coordinator.initial_penalty_per_mw2h"])
            for t in expand(parsed, {})]
    below_ten = sum(1 for x in logs if x < 1.0) / len(logs)  # a quarter of [0, 4] decades
    assert below_ten == pytest.approx(0.25, abs=0.03)
    assert sum(logs) / len(logs) == pytest.approx(2.0, abs=0.1)


def test_nested_tables_and_dotted_keys_name_the_same_trial() -> None:
    nested = parse_campaign(campaign(grid={"traffic": {"ev_share": [0.02]}}))
    dotted = parse_campaign(campaign(grid={"traffic.ev_share": [0.02]}))
    assert [t.trial_id for t in expand(nested, {})] == [t.trial_id for t in expand(dotted, {})]
    assert expand(nested, {})[0].trial_id == trial_id({"traffic.ev_share": 0.02}, 0)
    assert trial_id({"traffic.ev_share": 0.02}, 1) != trial_id({"traffic.ev_share": 0.02}, 0)


def test_repetitions_step_the_scenarios_seed() -> None:
    parsed = parse_campaign({"campaign": {"scenario": "pricing-seed001", "repetitions": 3}})
    base = ptn.Scenario.load("pricing-seed001")
    seeds = base_seeds(parsed, base)
    assert seeds == {"dso.pricing.seed": 1}  # scenarios/pricing-seed001.toml: [dso.pricing]
    trials = expand(parsed, seeds)
    assert [t.seeds for t in trials] == [{"dso.pricing.seed": s} for s in (1, 2, 3)]
    assert base.with_overrides(trials[2].all_overrides).to_toml().count("seed = 3") == 1
    named = parse_campaign({"campaign": {"scenario": "pricing-seed001", "repetitions": 2,
                                         "seed_keys": ["dso.no_seed"]}})
    with pytest.raises(InvalidInputError, match=r"seed_keys: the scenario has no integer key "
                                                r"'dso\.no_seed'"):
        base_seeds(named, base)


def test_the_fingerprint_follows_the_trials_not_how_they_run() -> None:
    one = parse_campaign(campaign(grid={"traffic.ev_share": [0.02, 0.03]}))
    run_elsewhere = parse_campaign({"campaign": {"scenario": "nguyen-dupuis-ieee33",
                                                 "backend": "inproc", "concurrency": 7},
                                    "grid": {"traffic.ev_share": [0.02, 0.03]}})
    more = parse_campaign(campaign(grid={"traffic.ev_share": [0.02, 0.03, 0.04]}))
    assert campaign_fingerprint(one, "s1") == campaign_fingerprint(run_elsewhere, "s1")
    assert campaign_fingerprint(one, "s1") != campaign_fingerprint(more, "s1")
    assert campaign_fingerprint(one, "s1") != campaign_fingerprint(one, "s2")


def test_a_changed_base_scenario_is_refused_in_the_same_folder(tmp_path: Path) -> None:
    scenario = tmp_path / "base.toml"
    scenario.write_text(ptn.Scenario.load(None).to_toml(), encoding="utf-8")
    file = tmp_path / "campaign.toml"
    file.write_text('[campaign]\nscenario = "base.toml"\nbackend = "inproc"\n'
                    '[grid]\n"traffic.ev_share" = [0.02, 0.03]\n', encoding="utf-8")
    parsed = load_campaign(file)
    assert parsed.scenario == str(tmp_path / "base.toml")  # relative to the campaign file
    assert parsed.name == "campaign"
    prepare(parsed, tmp_path / "out")
    prepare(parsed, tmp_path / "out")  # the same campaign: resumed
    scenario.write_text(scenario.read_text("utf-8").replace("ev_share = 0.03",
                                                            "ev_share = 0.05"), "utf-8")
    with pytest.raises(InvalidInputError, match=r"its file or base scenario changed.*--force"):
        prepare(load_campaign(file), tmp_path / "out")
    prepare(load_campaign(file), tmp_path / "out", force=True)


def test_a_ray_trial_reserves_its_operators_as_one_placement_group() -> None:
    parsed = parse_campaign(campaign(resources={"operator": {"trial_slot": 0.5},
                                                "strategy": "spread"}))
    base = ptn.Scenario.load(None)
    overrides = trial_placement(parsed, base)
    placed = base.with_overrides(overrides).document.placement
    assert placed is not None and placed.group and placed.strategy == "spread"
    assert placed.of("dso").resources == {"trial_slot": 0.5}
    assert placed.of("traffic").resources == {"trial_slot": 0.5}
    assert placed.ready_timeout_s == 3600
    own = base.with_overrides({"placement.operators.dso.resource": "site_a"})
    assert trial_placement(parsed, own) == {}  # the scenario's own table is kept


@pytest.mark.parametrize(("document", "message"), [
    ({"campaign": {}}, "campaign.scenario: expected a built-in scenario name or a path"),
    (campaign(grids={}), "grids: unknown table"),
    ({"campaign": {"scenario": "x", "repetitions": 0}}, "campaign.repetitions: expected an "
                                                        "integer ≥ 1"),
    ({"campaign": {"scenario": "x", "backend": "slurm"}}, "campaign.backend: expected one of "
                                                          "ray, ray-tasks, inproc"),
    ({"campaign": {"scenario": "x", "colour": 1}}, "campaign.colour: unknown key"),
    (campaign(grid={"traffic.ev_share": []}), "grid.traffic.ev_share: expected a non-empty "
                                              "list"),
    (campaign(grid={"traffic.ev_share": 0.1}), "grid.traffic.ev_share: expected a non-empty"),
    (campaign(sets={"a": 1}), "sets: expected an array of non-empty tables"),
    (campaign(random={"seed": 1, "parameters": {"a.b": {"uniform": [0, 1]}}}),
     "random.samples: expected the number of samples"),
    (campaign(random={"samples": 2, "parameters": {"a.b": {"uniform": [1, 0]}}}),
     r"random.parameters.a.b.uniform: expected \[low, high\] with low < high"),
    (campaign(random={"samples": 2, "parameters": {"a.b": {"log-uniform": [0, 1]}}}),
     "random.parameters.a.b.log-uniform: a log-uniform range must be positive"),
    (campaign(random={"samples": 2, "parameters": {"a.b": {"normal": [0, 1]}}}),
     "random.parameters.a.b.normal: expected one of"),
    (campaign(grid={"a.b": [1]}, sets=[{"a.b": 2}]), "sets.a.b: also given in \\[grid\\]"),
    (campaign(overrides={"a.b": 1}, grid={"a.b": [1]}), "grid.a.b: also given in "
                                                        "\\[overrides\\]"),
    (campaign(resources={"operator": {"slot": -1}}), "resources.operator.slot: expected a "
                                                     "positive amount"),
    (campaign(resources={"strategy": "strict"}), "resources.strategy: expected one of pack"),
])
def test_a_bad_campaign_is_refused_naming_the_key(document: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_campaign(document, source="c.toml")


def test_a_campaign_file_with_a_syntax_error_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    file.write_text("[campaign\nscenario = 1\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=f"{file}: .*line 1"):
        load_campaign(file)
    with pytest.raises(InvalidInputError, match="cannot read campaign"):
        load_campaign(tmp_path / "missing.toml")


def test_a_placement_file_replaces_the_scenarios_table(tmp_path: Path) -> None:
    file = tmp_path / "placement.toml"
    file.write_text('[placement]\nstrategy = "spread"\n[placement.operators.traffic]\n'
                    'resource = "site_b"\n', encoding="utf-8")
    own = ptn.Scenario.load(None).with_overrides({"placement.operators.dso.resource": "x",
                                                  "placement.ready_timeout_s": 5})
    replaced = own.with_placement(file).document.placement
    assert replaced is not None and replaced.strategy == "spread"
    assert replaced.of("traffic").resources == {"site_b": 0.001}
    assert replaced.of("dso").resources == {}  # the scenario's pin is gone with its table
    assert replaced.ready_timeout_s == 60  # the default, not the scenario's 5


@pytest.mark.parametrize(("text", "message"), [
    ('[coordinator]\nmax_rounds = 3\n', r"expected a \[placement\] table"),
    ('[placement]\nstrategy = "spread"\n[dso]\nx = 1\n', "only a \\[placement\\] table"),
    ('[placement]\nstrategy = "scatter"\n', "placement.strategy: expected one of spread, pack"),
    ('[placement.operators.nobody]\nresource = "x"\n', "placement.operators.nobody: the "
                                                       "scenario has no operator"),
    ("[placement\n", "--placement .*placement.toml"),
])
def test_a_bad_placement_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "placement.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        ptn.Scenario.load(None).with_overrides(placement_overrides(file))


def test_a_placement_file_goes_to_every_ray_trial_instead_of_the_campaigns_group(
        tmp_path: Path) -> None:
    file = tmp_path / "placement.toml"
    file.write_text('[placement.operators.dso]\nresource = "feeders"\n', encoding="utf-8")
    parsed = parse_campaign(campaign(grid={"traffic.ev_share": [0.02, 0.03]},
                                     resources={"operator": {"trial_slot": 0.5}}))
    run = prepare(parsed, tmp_path / "out", backend="ray",
                  placement=placement_overrides(file))
    for job in run.jobs.values():
        placed = ptn.Scenario.load(None).with_overrides(job.overrides).document.placement
        assert placed is not None and not placed.group  # the file's table, as it stands
        assert placed.of("dso").resources == {"feeders": 0.001}
        assert placed.of("traffic").resources == {}
    plain = prepare(parsed, tmp_path / "out2", backend="ray")
    grouped = ptn.Scenario.load(None).with_overrides(
        next(iter(plain.jobs.values())).overrides).document.placement
    assert grouped is not None and grouped.group
    assert grouped.of("traffic").resources == {"trial_slot": 0.5}
