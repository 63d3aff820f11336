"""`python -m distill.app.cli ...`: the `distill` command without its console script."""

import sys

from distill.app.cli import main

sys.exit(main())
