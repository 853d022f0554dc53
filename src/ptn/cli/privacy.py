"""``ptn privacy audit SCENARIO``: how much each operator can infer from the messages it saw.

Why this module exists: the command is a thin shell over the experimenter's attack battery
(:func:`ptn.lab.privacy.audit.run_audit`): it negotiates the scenario in-process, runs every
attack that applies to its mechanism, prints the table (or audit.json with ``--json``) and
writes audit.json and audit.md into a safe results folder; invalid input is a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ptn.engines.errors import InvalidInputError

privacy_app = typer.Typer(
    name="privacy",
    help="What an honest-but-curious operator infers from the negotiation's messages "
         "(docs/privacy.md).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@privacy_app.command("audit")
def audit(
    scenario: Annotated[
        str | None, typer.Argument(help="a scenario file (.toml) or built-in name (default: "
                                        "nguyen-dupuis-ieee33)")
    ] = None,
    periods: Annotated[
        int | None, typer.Option(help="resample the day to this many periods (a quick audit)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="results folder (default: results/<scenario "
                                       "name>-privacy)")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print audit.json on stdout")
                           ] = False,
    force: Annotated[bool, typer.Option("--force", help="replace the results a non-empty "
                                                        "--out folder holds")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress on stderr")] = False,
) -> None:
    """Run the scenario in-process, then every attack of the battery that applies to its
    mechanism: attacker, target, what it estimates, its error against the private truth.

    The results folder gets audit.json, audit.md and the negotiation's results under
    negotiation/. Exit code 1 when an attack could not run or none applies.
    """
    from ptn.cli.app import fail
    from ptn.lab.privacy.audit import AUDIT_JSON, format_table, run_audit
    from ptn.lab.progress_log import progress_log

    try:
        outcome, folder = run_audit(scenario, periods=periods, out=out, force=force,
                                    log=progress_log(not quiet))
    except InvalidInputError as error:
        fail(str(error))
        return
    if json_output:
        typer.echo(json.dumps(json.loads((folder / AUDIT_JSON).read_text("utf-8")), indent=2))
    else:
        typer.echo(format_table(outcome.attacks))
        for result in outcome.attacks:
            typer.echo(f"- {result.headline()}")
        typer.echo(f"results: {folder}")
    if not outcome.ok:
        typer.echo(f"ptn: privacy audit: {outcome.message or 'an attack failed'}", err=True)
        raise typer.Exit(1)
