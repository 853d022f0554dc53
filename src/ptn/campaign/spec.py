"""The campaign file: a base scenario, the parameters to vary, how to run the trials.

Why this module exists: a campaign is a value that can be checked before any negotiation
starts; every mistake in the file is one InvalidInputError naming the file and the key
(``campaign.toml: grid.traffic.ev_share: expected a non-empty list of values``). Layout
(docs/campaigns.md has the reference)::

    [campaign]
    name = "ev-share"                   # default: the file's stem
    scenario = "nguyen-dupuis-ieee33"   # a built-in name or a path (relative to this file)
    periods = 4                         # resample the base scenario's day (optional)
    repetitions = 2                     # each trial repeated (a per-repetition seed, if any)
    seed_keys = ["dso.seed"]            # default: every ``seed`` key the scenario has
    backend = "ray"                     # or "ray-tasks", "inproc"
    concurrency = 4                     # trials at once (default: ray: the cluster's CPUs)
    reference = true                    # also solve each trial's full-information reference
    retries = 2                         # re-runs of a trial that crashed or lost its node

    [overrides]                         # set in every trial (dotted scenario keys)
    "coordinator.max_rounds" = 40

    [grid]                              # the cartesian product of these values
    "traffic.ev_share" = [0.1, 0.2]

    [[sets]]                            # and/or explicit override sets (crossed with the grid)
    "coordinator.rho" = 1.0

    [random]                            # and/or random samples (crossed with the grid)
    samples = 8
    seed = 42
    [random.parameters]
    "coordinator.rho" = { log-uniform = [0.1, 10.0] }
    "traffic.ev_share" = { uniform = [0.05, 0.3] }
    "coordinator.mechanism" = { choice = ["admm", "joint"] }

    [resources]                         # Ray: what each trial reserves
    operator = { trial_slot = 0.5 }     # custom resources per operator (its bundle)
    strategy = "pack"                   # the trial's placement group: pack or spread
    ready_timeout_s = 3600              # how long a trial may wait for room on the cluster
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptn.api import InvalidInputError

#: ray: each trial's operators as Ray actors in the trial's placement group; ray-tasks: each
#: trial a Ray task (one CPU) with its operators in the task's process; inproc: this process
BACKENDS = ("ray", "ray-tasks", "inproc")
STRATEGIES = ("pack", "spread")
DISTRIBUTIONS = ("uniform", "log-uniform", "choice")
TOP_KEYS = ("campaign", "overrides", "grid", "sets", "random", "resources")
CAMPAIGN_KEYS = ("name", "scenario", "periods", "repetitions", "seed_keys", "backend",
                 "concurrency", "reference", "retries")
RANDOM_KEYS = ("samples", "seed", "parameters")
RESOURCE_KEYS = ("operator", "strategy", "ready_timeout_s")
#: how long a trial's placement group may wait for room on a busy cluster by default (s)
DEFAULT_READY_TIMEOUT_S = 3600.0
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class RandomParameter:
    """One sampled parameter: ``uniform``/``log-uniform`` over [low, high], or a ``choice``."""

    distribution: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Campaign:
    """A validated campaign file."""

    name: str
    scenario: str
    source: str = "<campaign>"
    periods: int | None = None
    repetitions: int = 1
    #: scenario keys given ``seed + repetition`` per repetition; None: every ``seed`` key found
    seed_keys: tuple[str, ...] | None = None
    backend: str = "ray"
    #: trials at once; None: ray: the cluster's CPUs, inproc: 1
    concurrency: int | None = None
    reference: bool = True
    retries: int = DEFAULT_RETRIES
    overrides: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    sets: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0
    sample_seed: int = 0
    random: dict[str, RandomParameter] = field(default_factory=dict)
    operator_resources: dict[str, float] = field(default_factory=dict)
    strategy: str = "pack"
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S

    @property
    def varied(self) -> tuple[str, ...]:
        """The varied scenario keys, in file order (grid, sets, random)."""
        keys = [*self.grid, *(k for overrides in self.sets for k in overrides), *self.random]
        return tuple(dict.fromkeys(keys))

    def definition(self) -> dict[str, Any]:
        """What decides the trials and their numbers (not how they are run): the campaign's
        fingerprint is taken over this and the base scenario's."""
        return {"scenario": self.scenario, "periods": self.periods,
                "repetitions": self.repetitions, "seed_keys": self.seed_keys,
                "reference": self.reference, "overrides": self.overrides, "grid": self.grid,
                "sets": self.sets, "samples": self.samples, "sample_seed": self.sample_seed,
                "random": {k: [p.distribution, list(p.values)] for k, p in self.random.items()}}


class CampaignReader:
    """Checks on the parsed file, each failure naming the file and the key."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, message: str) -> InvalidInputError:
        return InvalidInputError(f"{self.label}: {key}: {message}")

    def table(self, document: dict[str, Any], key: str, allowed: tuple[str, ...] | None
              ) -> dict[str, Any]:
        value = document.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {value!r}")
        if allowed is not None:
            for name in value:
                if name not in allowed:
                    raise self.fail(f"{key}.{name}", f"unknown key (known: {', '.join(allowed)})")
        return value

    def integer(self, table: dict[str, Any], where: str, key: str, default: int | None,
                minimum: int) -> int | None:
        value = table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"{where}.{key}", f"expected an integer ≥ {minimum}, got {value!r}")
        return value

    def choice(self, table: dict[str, Any], where: str, key: str, default: str,
               allowed: tuple[str, ...]) -> str:
        value = table.get(key, default)
        if value not in allowed:
            raise self.fail(f"{where}.{key}", f"expected one of {', '.join(allowed)}, got "
                                              f"{value!r}")
        return str(value)


def flatten(table: dict[str, Any], prefix: str = "", *, leaf: Any = None) -> dict[str, Any]:
    """Nested tables as dotted keys (``[grid.traffic] ev_share`` and ``"traffic.ev_share"``
    are the same key); ``leaf(value)`` says where a table is a value, not a level."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and not (leaf is not None and leaf(value)):
            flat.update(flatten(value, dotted, leaf=leaf))
        else:
            flat[dotted] = value
    return flat


def parse_campaign(document: dict[str, Any], *, source: str = "<campaign>",
                   base_directory: Path | None = None, default_name: str = "campaign"
                   ) -> Campaign:
    """A campaign from its parsed TOML (``base_directory``: where a scenario path is
    relative to)."""
    reader = CampaignReader(source)
    for key in document:
        if key not in TOP_KEYS:
            raise reader.fail(key, f"unknown table (known: {', '.join(TOP_KEYS)})")
    head = reader.table(document, "campaign", CAMPAIGN_KEYS)
    scenario = head.get("scenario")
    if not isinstance(scenario, str) or not scenario:
        raise reader.fail("campaign.scenario", "expected a built-in scenario name or a path")
    if scenario.endswith(".toml") or "/" in scenario:
        path = Path(scenario)
        scenario = str(path if path.is_absolute() or base_directory is None
                       else base_directory / path)
    name = head.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise reader.fail("campaign.name", f"expected a name, got {name!r}")
    seed_keys = head.get("seed_keys")
    if seed_keys is not None and (not isinstance(seed_keys, list)
                                  or not all(isinstance(k, str) for k in seed_keys)):
        raise reader.fail("campaign.seed_keys", f"expected a list of scenario keys, got "
                                                f"{seed_keys!r}")
    reference = head.get("reference", True)
    if not isinstance(reference, bool):
        raise reader.fail("campaign.reference", f"expected true or false, got {reference!r}")
    overrides = flatten(reader.table(document, "overrides", None))
    grid = flatten(reader.table(document, "grid", None))
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise reader.fail(f"grid.{key}", f"expected a non-empty list of values, got "
                                             f"{values!r}")
    sets = document.get("sets", [])
    if not isinstance(sets, list) or not all(isinstance(s, dict) and s for s in sets):
        raise reader.fail("sets", "expected an array of non-empty tables ([[sets]])")
    flat_sets = [flatten(s) for s in sets]
    samples, sample_seed, random = parse_random(reader, document)
    resources = reader.table(document, "resources", RESOURCE_KEYS)
    operator = reader.table(resources, "operator", None)
    for key, amount in operator.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            raise reader.fail(f"resources.operator.{key}", f"expected a positive amount, got "
                                                           f"{amount!r}")
    timeout = resources.get("ready_timeout_s", DEFAULT_READY_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise reader.fail("resources.ready_timeout_s", f"expected a positive number of "
                                                       f"seconds, got {timeout!r}")
    campaign = Campaign(
        name=name, scenario=scenario, source=source,
        periods=reader.integer(head, "campaign", "periods", None, 1),
        repetitions=reader.integer(head, "campaign", "repetitions", 1, 1) or 1,
        seed_keys=tuple(seed_keys) if seed_keys is not None else None,
        backend=reader.choice(head, "campaign", "backend", "ray", BACKENDS),
        concurrency=reader.integer(head, "campaign", "concurrency", None, 1),
        reference=reference,
        retries=reader.integer(head, "campaign", "retries", DEFAULT_RETRIES, 0) or 0,
        overrides=overrides, grid=grid, sets=flat_sets, samples=samples,
        sample_seed=sample_seed, random=random,
        operator_resources={k: float(v) for k, v in operator.items()},
        strategy=reader.choice(resources, "resources", "strategy", "pack", STRATEGIES),
        ready_timeout_s=float(timeout))
    check_disjoint(reader, campaign)
    return campaign


def parse_random(reader: CampaignReader, document: dict[str, Any]
                 ) -> tuple[int, int, dict[str, RandomParameter]]:
    """``[random]``: the sample count, its seed and each parameter's distribution."""
    table = reader.table(document, "random", RANDOM_KEYS)
    if not table:
        return 0, 0, {}
    samples = reader.integer(table, "random", "samples", None, 1)
    if samples is None:
        raise reader.fail("random.samples", "expected the number of samples")
    seed = reader.integer(table, "random", "seed", 0, 0) or 0
    raw = flatten(reader.table(table, "parameters", None),
                  leaf=lambda value: any(k in DISTRIBUTIONS for k in value))
    if not raw:
        raise reader.fail("random.parameters", "expected at least one parameter")
    parameters: dict[str, RandomParameter] = {}
    for key, spec in raw.items():
        where = f"random.parameters.{key}"
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise reader.fail(where, "expected one of { uniform = [low, high] }, "
                                     "{ log-uniform = [low, high] }, { choice = [values] }")
        distribution, values = next(iter(spec.items()))
        if not isinstance(values, list) or not values:
            raise reader.fail(f"{where}.{distribution}", f"expected a list, got {values!r}")
        if distribution != "choice":
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool)
                          for v in values)
            if len(values) != 2 or not numeric or not values[0] < values[1]:
                raise reader.fail(f"{where}.{distribution}", f"expected [low, high] with "
                                                             f"low < high, got {values!r}")
            if distribution == "log-uniform" and values[0] <= 0:
                raise reader.fail(f"{where}.{distribution}", f"a log-uniform range must be "
                                                             f"positive, got {values!r}")
        parameters[key] = RandomParameter(distribution, tuple(values))
    return samples, seed, parameters


def check_disjoint(reader: CampaignReader, campaign: Campaign) -> None:
    """A key is varied in one place only (and not also fixed in ``[overrides]``)."""
    seen: dict[str, str] = {key: "overrides" for key in campaign.overrides}
    places = [("grid", campaign.grid.keys()),
              ("sets", {k for s in campaign.sets for k in s}),
              ("random.parameters", campaign.random.keys())]
    for place, keys in places:
        for key in keys:
            if key in seen and seen[key] != place:
                raise reader.fail(f"{place}.{key}", f"also given in [{seen[key]}]: vary a key "
                                                    "in one place")
            seen[key] = place


def load_campaign(path: str | Path) -> Campaign:
    """A campaign file read and validated (errors name the file, the line or the key)."""
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"cannot read campaign {file}: {error}") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInputError(f"{file}: {error}") from error
    return parse_campaign(document, source=str(file), base_directory=file.resolve().parent,
                          default_name=file.stem)
