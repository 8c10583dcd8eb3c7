"""Seed-style entry point: `python prepare.py ...` is `prism prepare ...`."""

import sys

from prism.cli import main

if __name__ == "__main__":
    main(["prepare", *sys.argv[1:]])
