"""``ptn scenario keys`` and ``ptn scenario check``: the scenario reference and a file's check.

Why this module exists: a researcher writing a scenario needs every key with its unit, default,
bounds and meaning (generated from the schema, :mod:`ptn.scenario.reference`), and a way to
check a file before a long run: every problem the schema finds, named by file, key and reason,
then the checks that need the operators' data (the road network's nodes, the feeder's buses),
as the operators themselves run them when they start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ptn.engines.errors import InvalidInputError

scenario_app = typer.Typer(
    name="scenario",
    help="The scenario files' keys (unit, default, bounds, meaning) and a file's check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: the exit code of a scenario with problems
EXIT_PROBLEMS = 1


@scenario_app.command("keys")
def keys(
    json_output: Annotated[bool, typer.Option("--json", help="print the keys as JSON")] = False,
    table: Annotated[str | None, typer.Option(
        "--table", help="only the keys of tables whose name contains this, e.g. traffic")] = None,
) -> None:
    """Every key of a scenario file: table, name, type, unit, default, bounds, meaning."""
    from dataclasses import asdict

    from ptn.scenario.reference import rows

    selected = [row for row in rows() if table is None or table in row.table]
    if table is not None and not selected:
        typer.echo(f"ptn: error: no table matches {table!r}", err=True)
        raise typer.Exit(EXIT_PROBLEMS)
    if json_output:
        import json

        typer.echo(json.dumps([asdict(row) for row in selected], indent=2))
        return
    current = None
    for row in selected:
        if row.table != current:
            typer.echo(("\n" if current else "") + row.table)
            current = row.table
        facts = [row.type]
        facts += [f"unit {row.unit}"] if row.unit else []
        facts += [f"default {row.default}"]
        facts += [f"bounds {row.bounds}"] if row.bounds else []
        typer.echo(f"  {row.key} ({'; '.join(facts)}): {row.meaning}")


def check_scenario(spec: str) -> tuple[list[str], str]:
    """(problems, summary) of the scenario at path or built-in name ``spec``: every schema
    problem of the file, else the first problem the operators' data shows, else none."""
    from ptn import scenarios
    from ptn.coordinator.runtime.backends import check_operator_parts
    from ptn.engines.toml_keys import parse_toml_text
    from ptn.scenario.document import builtin_scenario_text, load_scenario
    from ptn.scenario.validation import file_errors

    try:
        if spec in scenarios.names():
            text = builtin_scenario_text(spec)
        else:
            try:
                text = Path(spec).read_bytes().decode("utf-8", errors="replace")
            except OSError as error:
                reason = (error.strerror or str(error)).lower()
                return [f"cannot read scenario {spec}: {reason}"], ""
        problems = file_errors(parse_toml_text(text.encode("utf-8"), spec), spec)
        if problems:
            return problems, ""
        scenario = load_scenario(spec)
        check_operator_parts(scenario)
    except InvalidInputError as error:
        return [str(error)], ""
    public = scenario.public
    operators = ", ".join(f"{i} ({scenario.part(i).role})" if i != scenario.part(i).role
                          else i for i in scenario.operator_ids)
    privacy = scenario.privacy
    private = (f"; private: {privacy.mechanism} noise on "
               f"{', '.join(d.name for d in privacy.protected)}, total epsilon "
               f"{privacy.epsilon:g} over {privacy.rounds} releases") if privacy.active else ""
    return [], (f"{spec}: OK: mechanism {scenario.coordinator.mechanism}, operators "
                f"{operators}; {len(public.stations)} stations, {public.periods} periods of "
                f"{public.period_hours:g} h{private}")


@scenario_app.command("check")
def check(
    file: Annotated[str, typer.Argument(help="a scenario file, or a built-in scenario's name")],
) -> None:
    """Validate a scenario: one OK line (mechanism, operators), or every problem and exit 1.

    Each problem names the file, the key and the reason. The schema's problems are listed
    all at once; then the operators' data is checked (road nodes, feeder buses, stations)."""
    problems, summary = check_scenario(file)
    for problem in problems:
        typer.echo(f"ptn: error: {problem}", err=True)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(summary)
