#!/usr/bin/env python3
"""Run a scenario on the Ray cluster with deploy/ray/placement.toml's [placement] table.

    python deploy/ray/run_placed.py [--scenario S] [--periods N] [--placement FILE] [--out DIR]

On the cluster of deploy/ray/cluster.yaml (``ray submit deploy/ray/cluster.yaml
deploy/ray/run_placed.py -- --out '~/results'``): joins the running cluster
(``ray_address="auto"``), replaces the scenario's ``[placement]`` table by the file's (validated
as the scenario's own, errors naming the key), runs the negotiation with every operator as a
Ray actor on the node its placement names, and writes the results folder, whose
``summary.json`` says per operator the node it ran on and where its metrics were served.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

import ptn
from ptn.engines.errors import InvalidInputError

HERE = Path(__file__).resolve().parent


def placed_scenario(scenario: str | None, placement_file: Path,
                    periods: int | None = None) -> ptn.Scenario:
    """The scenario (its day resampled to ``periods``, if given) with the file's
    ``[placement]`` table in place of its own."""
    try:
        table: dict[str, Any] = tomllib.loads(placement_file.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInputError(f"{placement_file}: {error}") from error
    if set(table) != {"placement"}:
        raise InvalidInputError(f"{placement_file}: expected one [placement] table, "
                                f"found {', '.join(sorted(table)) or 'nothing'}")
    loaded = ptn.Scenario.load(scenario, periods=periods)
    return loaded.with_overrides({"placement": table["placement"]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=None, help="scenario file or built-in name")
    parser.add_argument("--periods", type=int, default=None,
                        help="resample the scenario's day to this many periods")
    parser.add_argument("--placement", type=Path, default=HERE / "placement.toml",
                        help="a TOML file holding a [placement] table")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--ray-address", default="auto", help="the Ray cluster to join")
    arguments = parser.parse_args(argv)
    try:
        scenario = placed_scenario(arguments.scenario, arguments.placement,
                                   arguments.periods)
        result = ptn.run(scenario, backend="ray", ray_address=arguments.ray_address,
                         out=arguments.out.expanduser() if arguments.out else None)
    except InvalidInputError as error:
        print(f"run_placed: error: {error}", file=sys.stderr)
        return 2
    print(result.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
