"""`python -m radiview` is the same as the `radiview` command."""

import sys

from radiview.cli import main

if __name__ == "__main__":
    sys.exit(main())
