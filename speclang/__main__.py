"""``python -m speclang``: the command line, exactly as the ``speclang`` script runs it."""

import sys

from speclang.cli import main

if __name__ == "__main__":  # importing the module (a type checker, a doc tool) runs nothing
    sys.exit(main())
