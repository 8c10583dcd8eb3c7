"""Seed-style entry point: `python compare.py ...` is `prism compare ...`."""

import sys

from prism.cli import main

if __name__ == "__main__":
    main(["compare", *sys.argv[1:]])
