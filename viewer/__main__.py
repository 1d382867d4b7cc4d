"""``python -m viewer``: the viewer server (``byob view``), as the Procfile starts it."""

import signal
import sys

# Until the server is up, SIGTERM (honcho stopping the pipeline) is a clean exit.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

from pipeline.cli import main  # noqa: E402  (the command line's `view`, one layer up: an entry point)

sys.exit(main(["view", *sys.argv[1:]]))
