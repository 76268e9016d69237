"""The tables of ``step_time.py``: medians over rounds, ratios to Keras-jax, and the targets of
issue 24 each marked met or missed.
"""

import statistics

from step_time_models import MODELS, conv_gflop_per_step

REFERENCE = "keras (jax)"
# issue 24's limits on plait's defaults, as ratios to Keras-jax
LONG_FIT_LIMIT = {"mlp": 0.6, "qa": 0.6, "conv": 0.8}
SHORT_FIT_TODAY = {"mlp": 0.18, "qa": 0.27, "conv": 0.93}
SGEMM_SHARE = 0.8
BUSY_LIMIT = 1.2  # busy ratio over quiet ratio
STALL_FACTOR, STALL_FLOOR_MS = 5, 250
IMPORT_LIMIT_S = 0.5
DP_SCALING = 1.6


def median_dicts(runs):
    """Field-wise median of the runs without an error (or the last error)."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"error": runs[-1]["error"]}
    return {k: statistics.median(r[k] for r in good) for k in good[0] if isinstance(good[0][k], (int, float))}


def summarize(results, imports, dp):
    """``results[(measure, model, config)]``, ``imports[name]``, ``dp[(config, world)]``: lists
    over rounds -> the medians, nested as ``models[model][config][measure]``."""
    models = {}
    for (measure, model, config), runs in results.items():
        models.setdefault(model, {}).setdefault(config, {})[measure] = median_dicts(runs)
    parallel = {}
    for (config, world), runs in dp.items():
        parallel.setdefault(config, {})[str(world)] = median_dicts(runs)
    for row in parallel.values():
        one, two = row.get("1", {}), row.get("2", {})
        if "samples_per_s" in one and "samples_per_s" in two:
            row["scaling"] = two["samples_per_s"] / one["samples_per_s"]
        if "cpu_samples_per_s" in one and "cpu_samples_per_s" in two:
            row["cpu_scaling"] = two["cpu_samples_per_s"] / one["cpu_samples_per_s"]
    return {
        "models": models,
        "imports": {name: statistics.median(s) for name, s in imports.items() if s},
        "dp": parallel,
    }


def _get(rows, config, measure, field):
    return rows.get(config, {}).get(measure, {}).get(field)


def _ratio(value, reference):
    return value / reference if value is not None and reference else None


def _x(ratio):
    return "" if ratio is None else f"{ratio:.2f}x"


def _fmt(value, digits=3, suffix=""):
    """``digits`` significant digits, never an exponent (16300, not 1.63e+04)."""
    if value is None:
        return ""
    return f"{value:.0f}{suffix}" if abs(value) >= 10 ** (digits - 1) else f"{value:.{digits}g}{suffix}"


def stall_ok(run):
    """No step after the first longer than 5x the median step or 0.25 s, whichever is larger."""
    if run.get("max_step_ms") is None:
        return None
    return run["max_step_ms"] <= max(STALL_FACTOR * run["median_step_ms"], STALL_FLOOR_MS)


def targets(summary, sgemm):
    """Issue 24's targets: ``[(scope, target, measured, met)]``, met None when not measured."""
    rows = []
    for model, table in summary["models"].items():
        ref = {m: table.get(REFERENCE, {}).get(m, {}) for m in ("short", "long", "busy")}
        plait = {m: table.get("plait", {}).get(m, {}) for m in ("short", "long", "busy")}
        ratio = _ratio(plait["long"].get("fit_s"), ref["long"].get("fit_s"))
        limit = LONG_FIT_LIMIT[model]
        rows.append((model, f"long fit, whole `fit` <= {limit}x Keras-jax", _x(ratio), _le(ratio, limit)))
        if model == "conv" and plait["long"].get("steady_ms"):
            share = conv_gflop_per_step() / (plait["long"]["steady_ms"] / 1e3) / sgemm
            rows.append((model, "long fit's step >= 80% of sgemm rate", f"{100 * share:.0f}%", share >= SGEMM_SHARE))
        ratio = _ratio(plait["short"].get("fit_s"), ref["short"].get("fit_s"))
        limit = SHORT_FIT_TODAY[model]
        rows.append((model, f"3-epoch fit <= {limit}x Keras-jax (today's)", _x(ratio), _le(ratio, limit)))
        quiet = _ratio(plait["short"].get("steady_ms"), ref["short"].get("steady_ms"))
        busy = _ratio(plait["busy"].get("steady_ms"), ref["busy"].get("steady_ms"))
        measured = f"{_x(busy)} busy / {_x(quiet)} quiet" if busy and quiet else ""
        rows.append((model, "busy ratio <= 1.2x quiet ratio", measured, _le(_ratio(busy, quiet), BUSY_LIMIT)))
        for measure in ("long", "short"):
            run = plait[measure]
            if "max_step_ms" in run:
                measured = f"max {_fmt(run['max_step_ms'])} ms, median {_fmt(run['median_step_ms'])} ms"
                rows.append((model, f"no compile stall ({measure} fit)", measured, stall_ok(run)))
    added = summary["imports"].get("plait after torch")
    if added is not None:
        rows.append(("all", "`import plait` <= 0.5 s after `import torch`", f"{added:.2f} s", added <= IMPORT_LIMIT_S))
    scaling = summary["dp"].get("plait", {}).get("scaling")
    met = None if scaling is None else scaling >= DP_SCALING
    rows.append(("dp", "2-process DataParallel >= 1.6x one process's samples/s", _x(scaling), met))
    return rows


def _le(value, limit):
    return None if value is None else value <= limit


def _model_tables(model, rows, meta):
    batch, steps, epochs = MODELS[model]
    long_epochs = meta["long_epochs"][model]
    ref = rows.get(REFERENCE, {})
    lines = [
        f"**{model}** (batch {batch}; short fit {epochs} x {steps} steps, long fit {long_epochs} x {steps} steps)",
        "",
        "| configuration | step (ms) | vs Keras-jax | vs torch | first epoch (s) | 3-epoch fit (s) | vs Keras-jax "
        "| max / median step (ms) | peak memory (MB) | final loss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ref_short = ref.get("short", {})
    torch_short = rows.get("torch", {}).get("short", {})
    for config, measures in rows.items():
        r = measures.get("short")
        if r is None:
            continue
        if "error" in r:
            lines.append(f"| {config} | failed: {r['error'][:150]} | | | | | | | | |")
            continue
        lines.append(
            f"| {config} | {_fmt(r['steady_ms'])} | {_x(_ratio(r['steady_ms'], ref_short.get('steady_ms')))} "
            f"| {_x(_ratio(r['steady_ms'], torch_short.get('steady_ms')))} | {r['first_epoch_s']:.2f} "
            f"| {r['fit_s']:.2f} | {_x(_ratio(r['fit_s'], ref_short.get('fit_s')))} "
            f"| {_fmt(r['max_step_ms'])} / {_fmt(r['median_step_ms'])} | {r['peak_mb']:.0f} | {r['loss']:.4g} |"
        )
    lines += [
        "",
        "| configuration | long fit (s) | vs Keras-jax | its step (ms) | max / median step (ms) | stall-free "
        "| busy step (ms) | busy vs Keras-jax | busy / quiet |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for config, measures in rows.items():
        long, busy, short = measures.get("long", {}), measures.get("busy", {}), measures.get("short", {})
        if not long and not busy:
            continue
        cells = [config]
        if "fit_s" in long:
            # jax dispatches steps asynchronously: its single steps are dispatch times, and the
            # work waits at the epoch's end, so its longest "step" says nothing about stalls
            ok = "n/a (async)" if config == "keras (jax)" else {True: "yes", False: "**no**"}[stall_ok(long)]
            cells += [
                f"{long['fit_s']:.2f}",
                _x(_ratio(long["fit_s"], ref.get("long", {}).get("fit_s"))),
                _fmt(long["steady_ms"]),
                f"{_fmt(long['max_step_ms'])} / {_fmt(long['median_step_ms'])}",
                ok,
            ]
        else:
            cells += [f"failed: {long['error'][:100]}" if "error" in long else ""] + [""] * 4
        if "steady_ms" in busy:
            cells += [
                _fmt(busy["steady_ms"]),
                _x(_ratio(busy["steady_ms"], ref.get("busy", {}).get("steady_ms"))),
                _x(_ratio(busy["steady_ms"], short.get("steady_ms"))),
            ]
        else:
            cells += [f"failed: {busy['error'][:100]}" if "error" in busy else "", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    if model == "conv":
        lines.append("")
        for config in rows:
            for measure in ("short", "long"):
                step = rows[config].get(measure, {}).get("steady_ms")
                if step:
                    rate = conv_gflop_per_step() / (step / 1e3)
                    lines.append(
                        f"- {config}, {measure} fit: {conv_gflop_per_step():.1f} GFLOP per step at {rate:.0f} GFLOP/s, "
                        f"{100 * rate / meta['sgemm_gflops']:.0f}% of sgemm."
                    )
    return lines + [""]


def markdown(summary, meta):
    """The whole report as Markdown."""
    lines = [
        f"{meta['machine']}; torch {meta['torch']}; device {meta['device']}; sgemm {meta['sgemm_gflops']:.0f} "
        f"GFLOP/s; {meta['rounds']} rounds; load average {meta.get('load', '?')}.",
        "",
    ]
    for model, rows in summary["models"].items():
        lines += _model_tables(model, rows, meta)
    imports = summary["imports"]
    if imports:
        lines += ["| import (in one fresh process, bytecode cached) | seconds |", "|---|---|"]
        lines += [f"| `{name}` | {seconds:.2f} |" for name, seconds in imports.items()] + [""]
    if summary["dp"]:
        dp = meta["dp"]
        lines += [
            f"Data parallel, {dp['model']} model, {dp['batch']} samples per process and step, one thread per process:",
            "",
            "| configuration | 1 process (samples/s) | 2 processes (samples/s) | scaling | vs Keras-jax's scaling "
            "| scaling by CPU time |",
            "|---|---|---|---|---|---|",
        ]
        ref = summary["dp"].get(REFERENCE, {}).get("scaling")
        for config, row in summary["dp"].items():
            cells = [row.get(w, {}).get("samples_per_s") for w in ("1", "2")]
            errors = [row.get(w, {}).get("error") for w in ("1", "2")]
            shown = [_fmt(c, 3) if c else f"failed: {e[:80]}" if e else "" for c, e in zip(cells, errors)]
            scaling = row.get("scaling")
            vs_ref = _x(_ratio(scaling, ref))
            cpu = _x(row.get("cpu_scaling"))
            lines.append(f"| {config} | {shown[0]} | {shown[1]} | {_x(scaling)} | {vs_ref} | {cpu} |")
        lines += [
            "",
            "(Scaling by CPU time: the same ratio from each process's CPU time, the scaling if each process had "
            "a core of its own.)",
            "",
        ]
    lines += ["| scope | target (plait's defaults) | measured | met |", "|---|---|---|---|"]
    for scope, target, measured, met in targets(summary, meta["sgemm_gflops"]):
        lines.append(
            f"| {scope} | {target} | {measured} | {({True: 'yes', False: '**no**', None: 'not measured'})[met]} |"
        )
    return "\n".join(lines) + "\n"
