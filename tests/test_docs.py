"""Every command and every setting is documented in the README."""

from __future__ import annotations

from pathlib import Path

from tracker.cli import COMMANDS
from tracker.settings import DECLARED

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_is_in_the_readme() -> None:
    for name in COMMANDS:
        assert f"`tracker {name}" in README, name


def test_every_setting_is_in_the_readme() -> None:
    for setting in DECLARED:
        assert f"`{setting.name}`" in README and f"`{setting.env}`" in README, setting.name


def test_every_command_has_help() -> None:
    import click

    from tracker.cli import cli

    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and (command.help or "").strip(), name


def test_the_help_summaries_are_the_commands_own() -> None:
    """`tracker --help` lists commands from SUMMARIES without importing them: each summary
    must be what the command's own docstring would show."""
    import click

    from tracker.cli import SUMMARIES, cli

    ctx = click.Context(cli)
    assert set(SUMMARIES) == set(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        assert SUMMARIES[name] == command.get_short_help_str(1000), name
