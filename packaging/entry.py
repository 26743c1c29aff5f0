"""PyInstaller entry point for the frozen app: the same as the ``radiview`` console script."""

import multiprocessing
import sys

from radiview.cli import main

if __name__ == "__main__":
    # A frozen child process (DataLoader workers, process pools) re-runs this script: let
    # multiprocessing take over instead of starting a second app.
    multiprocessing.freeze_support()
    sys.exit(main())
