import sys

import reid_plugins  # noqa: F401  (fast-reid compat patches and dataset registrations first)

from .cli import main

sys.exit(main())
