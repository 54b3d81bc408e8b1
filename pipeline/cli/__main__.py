"""``python -m pipeline.cli``: the ``ct`` command without the installed console script (e.g. from a worktree)."""

import sys

from pipeline.cli import main

sys.exit(main())
