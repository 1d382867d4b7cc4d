"""What every command prints: results on stdout (one JSON line with ``--json``), progress on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def progress_bar(desc: str):
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, acc: float) -> None:
        nonlocal bar
        if bar is None or bar.total != total or done == 1:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, leave=False)
        bar.update(done - bar.n)
        bar.set_postfix(running_acc=f"{acc:.1%}", refresh=False)
        if done == total:
            bar.close()

    return update


def emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(lines))
