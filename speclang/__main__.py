"""``python -m speclang``: the command line."""

import sys

from speclang.cli import main

sys.exit(main())
