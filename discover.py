"""Seed-style entry point: `python discover.py ...` is `prism discover ...`."""

import sys

from prism.cli import main

if __name__ == "__main__":
    main(["discover", *sys.argv[1:]])
