"""The README's commands exist: ``byob COMMAND --help`` succeeds for every one it names."""

import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from pipeline.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COMMANDS = sorted(set(re.findall(r"`?byob ([a-z][a-z-]*)", README)))


def test_the_readme_names_commands():
    assert {"train", "evaluate", "config", "sweep", "compare", "export", "run", "view"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_of_the_readme_has_help(command):
    with redirect_stdout(StringIO()) as out, pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: byob" in out.getvalue()
