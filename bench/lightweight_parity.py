"""Parity of Prism's LightweightMMM reimplementation with the real `lightweight_mmm==0.1.9`.

The real package only runs with numpy < 2, jax 0.4.26 and TensorFlow, so it lives in its own virtual
environment (`bench/.lwmmm-venv`, Python 3.11, built here when missing). Both fit the same scaled arrays
with the same priors (including Prism's `media_prior` and `custom_priors`), seed and sampler settings; the
table compares posterior means of media coefficients, decays and training ROI with their Monte-Carlo
standard errors (z = difference ÷ combined MCSE; |z| < 3 is "within MC error").

    .venv/bin/python bench/lightweight_parity.py [--samples 500 --warmup 500 --chains 2]

This file also runs inside the old venv (`--real IN OUT`), where it imports only numpy and lightweight_mmm.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".lwmmm-venv"
VENV_PYTHON = VENV / "bin" / "python"
BASE_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python"
PINNED = ["lightweight_mmm==0.1.9", "numpy<2", "jax==0.4.26", "jaxlib==0.4.26"]
Z_LIMIT = 3.0
SIM_WEEKS = 156


# ------------------------------------------------------------------------------------------ old venv side
def fit_real(arrays_path: str, out_path: str) -> None:
    """Fit the real LightweightMMM on the saved arrays; save its chain-grouped samples."""
    import numpy as np
    import numpyro.distributions as dist
    from lightweight_mmm import lightweight_mmm

    a = dict(np.load(arrays_path))
    settings = json.loads(str(a.pop("settings")))
    custom = {
        "slope": dist.Gamma(a["slope_conc"], a["slope_rate"]),
        "half_max_effective_concentration": dist.Gamma(a["half_conc"], a["half_rate"]),
        "lag_weight": dist.Beta(a["lag_a"], a["lag_b"]),
        "coef_trend": dist.Normal(0.0, float(a["trend_sd"])),
        "expo_trend": dist.Uniform(float(a["expo_low"]), float(a["expo_high"])),
    }
    mmm = lightweight_mmm.LightweightMMM(model_name="hill_adstock")
    started = time.perf_counter()
    mmm.fit(media=a["media"], media_prior=a["coef_scale"], target=a["target"],
            extra_features=a["extra"] if a["extra"].shape[1] else None,
            degrees_seasonality=settings["degrees"], seasonality_frequency=52,
            number_warmup=settings["warmup"], number_samples=settings["samples"],
            number_chains=settings["chains"], target_accept_prob=settings["target_accept"],
            seed=settings["seed"], custom_priors=custom)
    seconds = time.perf_counter() - started
    grouped = mmm._mcmc.get_samples(group_by_chain=True)
    keep = ("coef_media", "lag_weight", "half_max_effective_concentration", "slope")
    divergences = int(np.asarray(mmm._mcmc.get_extra_fields()["diverging"]).sum())
    np.savez(out_path, seconds=seconds, divergences=divergences, **{k: np.asarray(grouped[k]) for k in keep})


# ------------------------------------------------------------------------------------------ main venv side
def ensure_venv() -> None:
    """Build the isolated venv with the real package when it is missing (≈ 2.9 GB, a few minutes)."""
    if VENV_PYTHON.exists():
        return
    print(f"building {VENV} with {' '.join(PINNED)} …", flush=True)
    subprocess.run([BASE_PYTHON, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "-q", *PINNED], check=True)


def datasets():
    """(name, ModelData, Config): the simulator with known truth and the bundled Conjura brand."""
    import pandas as pd

    from prism.data.simulate import simulate
    from prism.models.base import ModelData
    from prism.schemas import Config

    sim = simulate(weeks=SIM_WEEKS, n_channels=5, seed=0)
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]))
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    yield f"simulator {SIM_WEEKS}×5", ModelData.from_frame(frame, cfg), cfg
    path = HERE.parent / "prism" / "sample_data" / "conjura_apparel_brand_weekly.csv"
    conj = pd.read_csv(path, parse_dates=["date"])
    channels = [c for c in conj.columns if c.startswith(("google_", "meta_"))]
    cfg = Config.model_validate({"data": {"path": str(path), "date_column": "date", "kpi": "revenue",
                                          "channels": channels}})
    yield "conjura 132×8", ModelData.from_frame(conj, cfg), cfg


def run_real(data, cfg, arrays, pri, workdir: Path) -> dict:
    import numpy as np

    lw = cfg.lightweight_mmm
    tr = data.train
    settings = {"degrees": cfg.fourier_order, "warmup": lw.warmup, "samples": lw.samples, "chains": lw.chains,
                "target_accept": lw.target_accept, "seed": cfg.seed}
    inp, out = workdir / "arrays.npz", workdir / "real.npz"
    np.savez(inp, media=arrays["media"][tr], target=arrays["target"][tr], extra=arrays["extra"][tr],
             settings=json.dumps(settings), **{k: np.asarray(v, dtype=float) for k, v in pri.items()
                                               if k != "truncated"})
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={lw.chains}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([str(VENV_PYTHON), __file__, "--real", str(inp), str(out)], env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"real LightweightMMM failed: {proc.stderr.strip()[-2000:]}")
    return dict(np.load(out))


def quantities(grouped: dict, data, mean_spend, kpi_mean) -> dict:
    """Chain-grouped (chain, draw, C) arrays: coefficients, decays and training ROI per channel."""
    import numpy as np

    from prism.models.lightweight import kept_draws

    chains, draws = grouped["coef_media"].shape[:2]
    flat = {k: np.asarray(v).reshape(chains * draws, -1) for k, v in grouped.items()
            if k not in ("seconds", "divergences")}
    media = kept_draws(data, flat, (mean_spend, kpi_mean), np.zeros((chains * draws, data.n_weeks)))
    tr = data.n_train
    roi = media.contributions(data.spend)[:, :tr].sum(axis=1) / data.spend[:tr].sum(axis=0)
    return {"roi": roi.reshape(chains, draws, -1), "coef_media": np.asarray(grouped["coef_media"]),
            "lag_weight": np.asarray(grouped["lag_weight"])}


def mcse(x) -> tuple:
    """(mean, Monte-Carlo standard error) per channel of a (chain, draw, C) array."""
    import arviz as az
    import numpy as np

    ess = np.array([float(az.ess(np.ascontiguousarray(x[:, :, c]), method="mean")) for c in range(x.shape[2])])
    return x.mean(axis=(0, 1)), x.std(axis=(0, 1)) / np.sqrt(ess)


def compare(name, data, cfg) -> list[dict]:
    import jax
    import numpy as np

    from prism.models import lightweight as lw_mod

    arrays, mean_spend, kpi_mean = lw_mod.prepare_arrays(data, cfg)
    pri = lw_mod._channel_priors(data, cfg, kpi_mean)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        real = run_real(data, cfg, arrays, pri, Path(tmp))
        real_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    mcmc, _ = lw_mod._run_mcmc(data, cfg, False, arrays, pri)
    ours_seconds = time.perf_counter() - t0
    ours = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    ours_div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    q_real = quantities(real, data, mean_spend, kpi_mean)
    q_ours = quantities(ours, data, mean_spend, kpi_mean)
    print(f"\n{name}: real LightweightMMM {float(real['seconds']):.1f} s sampling ({real_wall:.1f} s with start-up), "
          f"Prism {ours_seconds:.1f} s (jax {jax.__version__}); divergences real {int(real['divergences'])}, "
          f"Prism {ours_div}")
    print(f"{'channel':18s} {'quantity':10s} {'real':>10s} {'±mcse':>8s} {'prism':>10s} {'±mcse':>8s} {'z':>6s}")
    rows = []
    for key in ("roi", "coef_media", "lag_weight"):
        (m_r, s_r), (m_o, s_o) = mcse(q_real[key]), mcse(q_ours[key])
        for c, ch in enumerate(data.channels):
            z = (m_o[c] - m_r[c]) / np.hypot(s_r[c], s_o[c])
            rows.append({"dataset": name, "channel": ch, "quantity": key, "z": float(z)})
            print(f"{ch:18s} {key:10s} {m_r[c]:10.4f} {s_r[c]:8.4f} {m_o[c]:10.4f} {s_o[c]:8.4f} {z:6.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", nargs=2, metavar=("ARRAYS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--chains", type=int)
    args = parser.parse_args()
    if args.real:
        fit_real(*args.real)
        return
    ensure_venv()
    rows = []
    for name, data, cfg in datasets():
        for key in ("samples", "warmup", "chains"):
            if getattr(args, key):
                setattr(cfg.lightweight_mmm, key, getattr(args, key))
        rows += compare(name, data, cfg)
    within = sum(abs(r["z"]) < Z_LIMIT for r in rows)
    print(f"\nwithin Monte-Carlo error (|z| < {Z_LIMIT:g}): {within}/{len(rows)} quantities")


if __name__ == "__main__":
    sys.exit(main())
