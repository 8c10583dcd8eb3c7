"""Empty compile caches for a benchmark that times a first run on a fresh machine."""

from __future__ import annotations

import os
import tempfile


def empty_compile_caches() -> str:
    """Point JAX's and PyTensor's compile caches at empty folders, for this process and every fit it starts (the
    model workers copy the environment). PyTensor keeps numba's cache (nutpie's compiled pymc model) under its
    `base_compiledir`, not its `compiledir`: moving only the latter leaves numba warm."""
    jax = tempfile.mkdtemp(prefix="prism-bench-jax-")
    pytensor = tempfile.mkdtemp(prefix="prism-bench-pytensor-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = jax
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [os.environ.get("PYTENSOR_FLAGS"),
                                                          f"base_compiledir={pytensor}"]))
    return f"empty (JAX {jax}, PyTensor {pytensor})"
