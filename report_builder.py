"""Seed-style entry point: `python report_builder.py ...` is `prism report ...`."""

import sys

from prism.cli import main

if __name__ == "__main__":
    main(["report", *sys.argv[1:]])
