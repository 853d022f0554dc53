"""A campaign expanded into trials, each named by the fingerprint of what it changes.

Why this module exists: resuming a campaign means recognising a trial already run, whatever
order the trials come in: a trial's id is a digest of its overrides and its repetition, and
the campaign's fingerprint a digest of its definition and of the base scenario, so that a
changed file or scenario is noticed. Trials are the override sets (or one empty set) × the
grid's cartesian product × the random samples (or one empty sample) × the repetitions; random
samples come from the campaign's own seeded generator, so a re-run draws the same ones.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ptn.campaign.spec import Campaign, RandomParameter

ID_LENGTH = 12


@dataclass(frozen=True)
class Trial:
    """One negotiation of the campaign: its varied overrides and its repetition; ``seeds``:
    the per-repetition seed values it sets (scenario key → value)."""

    trial_id: str
    overrides: dict[str, Any]
    repetition: int
    seeds: dict[str, int] = field(default_factory=dict)

    @property
    def all_overrides(self) -> dict[str, Any]:
        return {**self.overrides, **self.seeds}


def digest(value: Any, length: int = ID_LENGTH) -> str:
    """A short stable digest of a JSON-able value (keys sorted)."""
    canonical = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def trial_id(overrides: Mapping[str, Any], repetition: int) -> str:
    return digest({"overrides": dict(overrides), "repetition": repetition})


def campaign_fingerprint(campaign: Campaign, scenario_fingerprint: str) -> str:
    """What the trials' numbers depend on: the campaign's definition and the base scenario
    (after the campaign's fixed overrides), not how or where the trials run."""
    return digest({"campaign": campaign.definition(), "scenario": scenario_fingerprint}, 16)


def sample(parameter: RandomParameter, generator: np.random.Generator) -> Any:
    """One draw of a random parameter (numbers as Python floats, choices as given)."""
    if parameter.distribution == "choice":
        return parameter.values[int(generator.integers(len(parameter.values)))]
    low, high = (float(v) for v in parameter.values)
    if parameter.distribution == "log-uniform":
        return float(math.exp(generator.uniform(math.log(low), math.log(high))))
    return float(generator.uniform(low, high))


def override_sets(campaign: Campaign) -> Iterator[dict[str, Any]]:
    """Every combination of the campaign's varied values (repetitions aside)."""
    generator = np.random.default_rng(campaign.sample_seed)
    samples = [{key: sample(parameter, generator) for key, parameter in campaign.random.items()}
               for _ in range(campaign.samples)] or [{}]
    grid_keys = list(campaign.grid)
    for base in campaign.sets or [{}]:
        for values in itertools.product(*(campaign.grid[key] for key in grid_keys)):
            for drawn in samples:
                yield {**base, **dict(zip(grid_keys, values, strict=True)), **drawn}


def find_seed_keys(document: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of every integer ``seed`` in a parsed scenario (``[placement]`` aside)."""
    found = []
    for key, value in document.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and dotted != "placement":
            found += find_seed_keys(value, dotted)
        elif key == "seed" and isinstance(value, int) and not isinstance(value, bool):
            found.append(dotted)
    return found


def expand(campaign: Campaign, base_seeds: Mapping[str, int]) -> list[Trial]:
    """The campaign's trials in a stable order. ``base_seeds``: the base scenario's seed
    values by key; repetition r sets each to ``seed + r`` (repetition 0 keeps the scenario's
    own), unless the trial varies that key itself."""
    trials: list[Trial] = []
    seen: set[str] = set()
    for overrides in override_sets(campaign):
        for repetition in range(campaign.repetitions):
            seeds = {key: int(seed) + repetition for key, seed in base_seeds.items()
                     if key not in overrides} if campaign.repetitions > 1 else {}
            identifier = trial_id(overrides, repetition)
            if identifier in seen:  # the same overrides twice (e.g. a choice drawn again)
                continue
            seen.add(identifier)
            trials.append(Trial(identifier, overrides, repetition, seeds))
    return trials
