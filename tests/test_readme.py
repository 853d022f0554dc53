"""The README's Quickstart is the contract: exactly two commands, and CI runs the second one."""

from __future__ import annotations

import re

from tests.support import REPOSITORY


def quickstart_commands() -> list[str]:
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quickstart\s*\n(.*?)(?=^## )", text, re.S | re.M)
    assert section is not None, "README.md has no '## Quickstart' section"
    block = re.search(r"```bash\n(.*?)```", section.group(1), re.S)
    assert block is not None, "Quickstart has no bash code block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[0].endswith("ptn run")
    assert "[test]" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_script = (REPOSITORY / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = [line.strip() for line in ci_script.splitlines()]
    assert quickstart_commands()[1] in ci_commands
