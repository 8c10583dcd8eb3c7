"""Seed-style entry point: `python run_models.py ...` is `prism run ...`."""

import sys

from prism.cli import main

if __name__ == "__main__":
    main(["run", *sys.argv[1:]])
