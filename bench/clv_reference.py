#!/usr/bin/env python3
"""Reference check of pg_cdp's BG/NBD and Gamma-Gamma fits against the Python package lifetimes.

usage: clv_reference.py SUMMARY_CSV PGCDP_PARAMS_JSON

SUMMARY_CSV        header profile_id,frequency,recency,t,monetary_value in lifetimes' conventions,
                   time in days: frequency = repeat purchase days x, recency = first-to-last
                   purchase t_x, t = first purchase to the as-of date, monetary_value = mean spend
                   of the repeat purchases (0 when frequency is 0).
PGCDP_PARAMS_JSON  the parameters pg_cdp fitted, e.g. value.clv_model's params column:
                   {"bg_nbd": {"r", "alpha", "a", "b", "log_likelihood", ...},
                    "gamma_gamma": {"p", "q", "v", "log_likelihood", ...}}  (extra keys ignored;
                   "gamma_gamma": null skips the spend model).

Fits lifetimes.BetaGeoFitter and GammaGammaFitter (penalizer 0) on the same customers pg_cdp
uses: like pg_cdp, x, t_x and T are rounded to whole days, rows that are not finite, negative or
have t_x > T are skipped (t_x is taken as 0 when x = 0), and the spend model uses customers with
x >= 1 and monetary_value > 0. Identical rows are collapsed and passed as weights. Both parameter
sets are then evaluated under lifetimes' own log-likelihood, in day units and summed over
customers (the same form pg_cdp reports), so the two optima can be compared directly.

The parameterisations are the same (Fader-Hardie: r, alpha, a, b and p, q, v; alpha in days).
Run it with the venv from bench/clv_reference_env:
    "$(bench/clv_reference_env | tail -n1)" bench/clv_reference.py summary.csv params.json

Exit status: 0 whenever figures were printed (whatever the differences), 2 on bad input,
1 when lifetimes cannot be imported.
"""
import contextlib
import json
import math
import sys
import time
import warnings

TARGET_PCT = 2.0
BG_KEYS = ("r", "alpha", "a", "b")
GG_KEYS = ("p", "q", "v")


def die(msg):
    print(f"clv_reference: {msg}", file=sys.stderr)
    sys.exit(2)


try:
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import ConvergenceError
except ImportError as e:  # pragma: no cover - environment problem, not input
    print(f"clv_reference: cannot import lifetimes/numpy/pandas ({e}); "
          "use the python printed by bench/clv_reference_env", file=sys.stderr)
    sys.exit(1)


def load_params(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        die(f"cannot read {path}: {e}")
    except json.JSONDecodeError as e:
        die(f"{path} is not valid JSON: {e}")
    if not isinstance(doc, dict):
        die(f"{path}: expected a JSON object with keys bg_nbd and gamma_gamma")
    # Accept a whole value.clv_model row too: {"params": {...}}.
    if "bg_nbd" not in doc and isinstance(doc.get("params"), dict):
        doc = doc["params"]

    def section(name, keys, optional):
        sec = doc.get(name)
        if sec is None and optional and name in doc:
            return None
        if not isinstance(sec, dict):
            die(f"{path}: missing object \"{name}\" with keys {', '.join(keys)}")
        out = {}
        for k in keys:
            v = sec.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                die(f"{path}: {name}.{k} must be a positive finite number, got {v!r}")
            out[k] = float(v)
        ll = sec.get("log_likelihood")
        out["log_likelihood"] = float(ll) if isinstance(ll, (int, float)) and not isinstance(ll, bool) else None
        for k in ("n_customers", "n_patterns", "iterations", "converged"):
            out[k] = sec.get(k)
        return out

    return section("bg_nbd", BG_KEYS, False), section("gamma_gamma", GG_KEYS, True)


def load_summary(path):
    try:
        df = pd.read_csv(path, dtype={"profile_id": str})
    except FileNotFoundError:
        die(f"cannot read {path}: no such file")
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        die(f"cannot parse {path} as CSV: {e}")
    df.columns = [str(c).strip().lower() for c in df.columns]
    need = ["frequency", "recency", "t", "monetary_value"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        die(f"{path}: missing column(s) {', '.join(missing)}; expected header "
            "profile_id,frequency,recency,t,monetary_value")
    if len(df) == 0:
        die(f"{path}: no data rows")
    for c in need:
        conv = pd.to_numeric(df[c], errors="coerce")
        bad = conv.isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            die(f"{path}: column {c} has a non-numeric value {df[c].iloc[i]!r} (data row {i + 1})")
        df[c] = conv.astype(float)
    return df


def prepare_bg(df):
    """pg_cdp's rounding and validity rules; returns collapsed (x, t_x, T, weight)."""
    x = np.round(df["frequency"].to_numpy())
    tx = np.round(df["recency"].to_numpy())
    t = np.round(df["t"].to_numpy())
    ok = np.isfinite(x) & (x >= 0) & np.isfinite(t) & (t >= 0)
    tx = np.where(x == 0, 0.0, tx)
    ok &= (x == 0) | (np.isfinite(tx) & (tx >= 0) & (tx <= t))
    g = (pd.DataFrame({"x": x[ok], "tx": tx[ok], "t": t[ok]})
         .groupby(["x", "tx", "t"], sort=True).size().reset_index(name="w"))
    return g, int(ok.sum()), int((~ok).sum())


def prepare_gg(df):
    x = np.round(df["frequency"].to_numpy())
    m = df["monetary_value"].to_numpy()
    ok = np.isfinite(x) & (x >= 1) & np.isfinite(m) & (m > 0)
    g = (pd.DataFrame({"x": x[ok], "m": m[ok]})
         .groupby(["x", "m"], sort=True).size().reset_index(name="w"))
    return g, int(ok.sum())


def fit_with_fallback(make, fit, start_logs):
    """Fit from lifetimes' default start; on ConvergenceError retry from pg_cdp's optimum."""
    note = None
    for attempt, init in enumerate((None, start_logs)):
        model = make()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sys.stderr):  # lifetimes prints the failed result
                fit(model, init)
            return model, time.perf_counter() - t0, note
        except ConvergenceError:
            note = ("did not converge from lifetimes' default start; "
                    "refitted starting at pg_cdp's parameters")
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as e:
            note = f"fit failed ({type(e).__name__}: {e}); refitted starting at pg_cdp's parameters"
    return None, time.perf_counter() - t0, "did not converge, even from pg_cdp's parameters"


def rel_pct(ours, ref):
    if ref is None or ours is None or not math.isfinite(ref) or ref == 0:
        return float("nan")
    return (ours - ref) / abs(ref) * 100.0


def fmt(v, w=14):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a".rjust(w)
    if isinstance(v, str):
        return v.rjust(w)
    if v != 0 and (abs(v) >= 1e7 or abs(v) < 1e-3):
        return f"{v:.3e}".rjust(w)
    return f"{v:.6f}".rjust(w)


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    csv_path, json_path = argv[1], argv[2]
    pg_bg, pg_gg = load_params(json_path)

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")

    t0 = time.perf_counter()
    df = load_summary(csv_path)
    bg, n_bg, n_skipped = prepare_bg(df)
    gg, n_gg = prepare_gg(df)
    prep_s = time.perf_counter() - t0
    if n_bg == 0:
        die(f"{csv_path}: no valid customer rows (all NaN, negative, or recency > t)")

    print(f"clv_reference: lifetimes vs pg_cdp on {csv_path}")
    print(f"customers: {len(df)} rows, {n_bg} valid for BG/NBD ({n_skipped} skipped), "
          f"{len(bg)} distinct (x, t_x, T) patterns; {n_gg} for Gamma-Gamma "
          f"({len(gg)} distinct (x, m))")
    if pg_bg.get("n_customers") is not None:
        print(f"pg_cdp reported: {pg_bg['n_customers']} BG/NBD customers"
              + (f", {pg_gg['n_customers']} Gamma-Gamma customers"
                 if pg_gg and pg_gg.get("n_customers") is not None else ""))
    print(f"load + collapse: {prep_s:.2f} s")

    # ---- BG/NBD -------------------------------------------------------------------------
    x, tx, t, w = (bg[c].to_numpy() for c in ("x", "tx", "t", "w"))
    scale = 1.0 / t.max() if t.max() > 0 else 1.0  # lifetimes fits in time scaled by 1/max(T)
    pg_bg_vec = np.array([pg_bg[k] for k in BG_KEYS])
    bg_start = np.log(pg_bg_vec * np.array([1.0, scale, 1.0, 1.0]))

    def bg_ll(params):
        nll = BetaGeoFitter._negative_log_likelihood(np.log(params), x.astype(int), tx, t, w, 0.0)
        return -float(nll) * float(w.sum())

    bgf, bg_s, bg_note = fit_with_fallback(
        lambda: BetaGeoFitter(penalizer_coef=0.0),
        lambda m, init: m.fit(x.astype(int), tx, t, weights=w, initial_params=init),
        bg_start)
    lt_bg = {k: float(bgf.params_[k]) for k in BG_KEYS} if bgf is not None else {}
    lt_bg_se = {k: float(bgf.standard_errors_[k]) for k in BG_KEYS} if bgf is not None else {}

    # ---- Gamma-Gamma --------------------------------------------------------------------
    ggf, gg_s, gg_note, lt_gg, lt_gg_se = None, 0.0, None, {}, {}
    if pg_gg is not None and n_gg > 0:
        gx, gm, gw = (gg[c].to_numpy() for c in ("x", "m", "w"))
        pg_gg_vec = np.array([pg_gg[k] for k in GG_KEYS])

        def gg_ll(params):
            nll = GammaGammaFitter._negative_log_likelihood(np.log(params), gx, gm, gw, 0.0)
            return -float(nll) * float(gw.sum())

        ggf, gg_s, gg_note = fit_with_fallback(
            lambda: GammaGammaFitter(penalizer_coef=0.0),
            lambda m, init: m.fit(gx, gm, weights=gw, initial_params=init),
            np.log(pg_gg_vec))
        if ggf is not None:
            lt_gg = {k: float(ggf.params_[k]) for k in GG_KEYS}
            lt_gg_se = {k: float(ggf.standard_errors_[k]) for k in GG_KEYS}

    # ---- report -------------------------------------------------------------------------
    print()
    print(f"{'parameter':<12}{'lifetimes':>14}{'pg_cdp':>14}{'rel diff %':>12}"
          f"{'lifetimes SE':>14}{'diff / SE':>11}")
    diffs = []
    rows = [("bg_nbd", k, lt_bg.get(k), pg_bg[k], lt_bg_se.get(k)) for k in BG_KEYS]
    if pg_gg is not None:
        rows += [("gamma_gamma", k, lt_gg.get(k), pg_gg[k], lt_gg_se.get(k)) for k in GG_KEYS]
    for _, k, lt, pg, se in rows:
        d = rel_pct(pg, lt)
        if math.isfinite(d):
            diffs.append((abs(d), k))
        z = (pg - lt) / se if lt is not None and se and math.isfinite(se) and se > 0 else float("nan")
        print(f"{k:<12}{fmt(lt)}{fmt(pg)}{fmt(d, 12)}{fmt(se)}{fmt(z, 11)}")

    print()
    print("log-likelihood (lifetimes' formula, days, summed over customers; higher is better)")
    print(f"{'model':<12}{'at lifetimes':>20}{'at pg_cdp':>20}{'pg_cdp reports':>20}"
          f"{'pg - lt':>14}  higher")

    def ll_row(name, ll_lt, ll_pg, reported):
        gap = ll_pg - ll_lt if ll_lt is not None else float("nan")
        if not math.isfinite(gap):
            better = "n/a"
        elif abs(gap) < 1e-6:
            better = "tie"
        else:
            better = "pg_cdp" if gap > 0 else "lifetimes"
        print(f"{name:<12}{fmt(ll_lt, 20)}{fmt(ll_pg, 20)}{fmt(reported, 20)}{fmt(gap)}  {better}")

    ll_row("bg_nbd", bg_ll(np.array([lt_bg[k] for k in BG_KEYS])) if lt_bg else None,
           bg_ll(pg_bg_vec), pg_bg["log_likelihood"])
    if pg_gg is not None and n_gg > 0:
        ll_row("gamma_gamma", gg_ll(np.array([lt_gg[k] for k in GG_KEYS])) if lt_gg else None,
               gg_ll(pg_gg_vec), pg_gg["log_likelihood"])
    elif pg_gg is not None:
        print("gamma_gamma: no customer with frequency > 0 and monetary_value > 0; not fitted")
    else:
        print("gamma_gamma: null in the params file; skipped")

    print()
    print(f"lifetimes fit seconds: BG/NBD {bg_s:.2f} s ({len(bg)} weighted patterns)"
          + (f", Gamma-Gamma {gg_s:.2f} s ({n_gg} customers, {len(gg)} weighted rows)"
             if pg_gg is not None and n_gg > 0 else ""))
    for name, note in (("BG/NBD", bg_note), ("Gamma-Gamma", gg_note)):
        if note:
            print(f"note: lifetimes {name} {note}")
    if diffs:
        worst, which = max(diffs)
        print(f"largest relative difference is in {which}")
        print(f"max relative difference: {worst:.3f}% (target <= {TARGET_PCT:g}%)")
    else:
        print(f"max relative difference: n/a (lifetimes did not fit) (target <= {TARGET_PCT:g}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
