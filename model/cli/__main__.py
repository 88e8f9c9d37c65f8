"""``python -m model.cli``: the ``crampnet`` command."""

import sys

from model.cli import main

sys.exit(main())
