"""``python -m viewer``: the viewer server (``byob view``), as the Procfile starts it."""

import signal
import sys

# Until the server is up, SIGTERM (honcho stopping the pipeline) is a clean exit.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

from viewer.serve import main  # noqa: E402

sys.exit(main())
