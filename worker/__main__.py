"""`python -m worker` is `texter-worker`."""

import sys

from worker.cli import main

sys.exit(main())
