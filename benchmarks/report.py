"""What every benchmark's result file carries and how it is written: the date and the
commit it was measured at (``-dirty`` with uncommitted changes to tracked files), and the
JSON printed and, with ``--out``, saved."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pipeline.runtime.provenance import checkout


def stamp() -> dict[str, str]:
    """``{"date": ..., "commit": ...}`` for a result measured now, from this checkout."""
    git = checkout()
    commit = (git["commit"][:7] + ("-dirty" if git["dirty"] else "")) if git else "not a checkout"
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit}


def write(out: dict[str, Any], path: str | None, indent: int = 2) -> None:
    """Print the result as JSON, and save it to ``path`` when one is given."""
    text = json.dumps(out, indent=indent)
    if path:
        Path(path).write_text(text + "\n")
    print(text)
