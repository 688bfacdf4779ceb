"""`python -m server COMMAND`: the operator's command line."""

import sys

from server.ops.cli import main

sys.exit(main())
