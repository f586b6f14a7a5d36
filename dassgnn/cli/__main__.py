"""``python -m dassgnn.cli``: the ``dassgnn`` command."""

import sys

from dassgnn.cli import main

sys.exit(main())
