"""The benchmark's Markdown tables and its verdict, computed from the numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _f(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def tasks_table(tasks: list[dict[str, Any]]) -> str:
    """The meta-test tasks and the quality of their labels."""
    lines = [
        "| task | dataset | classes | students | KD seeds | teacher % | KD range % | "
        "reliability | ceiling | discriminating |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        lines.append(
            f"| {t['name']} | {t['dataset']} | {t['classes']} | {t['students']} | {t['seeds']} | "
            f"{_f(100 * t['teacher_acc'], 1)} | "
            f"{_f(100 * t['kd_min'], 1)}–{_f(100 * t['kd_max'], 1)} | "
            f"{_f(t['reliability'])} | {_f(t['ceiling'])} | "
            f"{'yes' if t['discriminating'] else 'no'} |"
        )
    return "\n".join(lines)


def metric_table(
    rows: list[dict[str, Any]], tasks: list[dict[str, Any]], metric: str, ceiling: bool = True
) -> str:
    """Tasks × methods of one figure (Spearman with its bootstrap interval), with
    each task's ceiling (unless ``ceiling`` is false: for figures that are not
    correlations), the mean over all tasks and over the discriminating ones."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["task"], r["method"]): r for r in rows}
    head = "| task | ceiling | " if ceiling else "| task | "
    lines = [
        head + " | ".join(methods) + " |",
        ("|---|---|" if ceiling else "|---|") + "---|" * len(methods),
    ]
    for t in tasks:
        cells = []
        for m in methods:
            r = by.get((t["key"], m))
            if r is None:
                cells.append("")
            elif metric == "spearman":
                cells.append(
                    f"{_f(r['spearman'])} [{_f(r['spearman_low'])}, {_f(r['spearman_high'])}]"
                )
            else:
                cells.append(_f(r[metric]))
        mark = " *" if t["discriminating"] else ""
        first = f"| {t['name']}{mark} | " + (f"{_f(t['ceiling'])} | " if ceiling else "")
        lines.append(first + " | ".join(cells) + " |")
    for label, keys in (
        ("mean", [t["key"] for t in tasks]),
        ("mean, discriminating *", [t["key"] for t in tasks if t["discriminating"]]),
        ("mean, unseen datasets", [t["key"] for t in tasks if t.get("unseen_dataset")]),
    ):
        if keys:
            cells = [_f(_mean([by[(k, m)][metric] for k in keys if (k, m) in by])) for m in methods]
            lines.append(f"| {label} | " + ("| " if ceiling else "") + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(comparisons: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> str:
    """The DaSS predictor against the better size baseline of each task."""
    names = {t["key"]: t["name"] for t in tasks}
    lines = [
        "| task | better size baseline | ρ(DaSS) − ρ(baseline) | 95 % interval "
        "| larger than the noise |",
        "|---|---|---|---|---|",
    ]
    for c in comparisons:
        real = c["low"] > 0 or c["high"] < 0
        lines.append(
            f"| {names.get(c['task'], c['task'])} | {c['baseline']} | {_f(c['diff'])} | "
            f"[{_f(c['low'])}, {_f(c['high'])}] | {'yes' if real else 'no'} |"
        )
    return "\n".join(lines)


def picks_table(rows: list[dict[str, Any]], tasks: list[dict[str, Any]], title: str) -> str:
    """Each method's pick within the budget: its accuracy (mean ± std over seeds)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["task"], r["method"]): r for r in rows}
    lines = [f"| task ({title}) | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for t in tasks:
        cells = []
        for m in methods:
            r = by.get((t["key"], m))
            if r is None or r.get("arch") is None:
                cells.append("")
            else:
                cells.append(f"{_f(r['mean'], 1)} ± {_f(r['std'], 1)}")
        if any(cells):
            lines.append(f"| {t['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(
    rows: list[dict[str, Any]],
    comparisons: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    method: str = "dass",
) -> list[str]:
    """A short reading of the numbers: the winner of each task and by how much,
    whether the DaSS predictor beats the better size baseline beyond the
    bootstrap interval, and the mean over the discriminating tasks."""
    out = []
    names = {t["key"]: t["name"] for t in tasks}
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    for t in tasks:
        ranked = sorted(
            (r for r in by_task.get(t["key"], []) if math.isfinite(r["spearman"])),
            key=lambda r: -r["spearman"],
        )
        if len(ranked) < 2:
            continue
        first, second = ranked[0], ranked[1]
        overlap = first["spearman_low"] <= second["spearman"]
        out.append(
            f"{t['name']}: {first['method']} ranks best (ρ {_f(first['spearman'])}, ceiling "
            f"{_f(t['ceiling'])}), {_f(first['spearman'] - second['spearman'])} above "
            f"{second['method']}"
            + (" — within the bootstrap interval, not a clear win." if overlap else ".")
        )
    for c in comparisons:
        real = c["low"] > 0 or c["high"] < 0
        if c["diff"] > 0 and real:
            word = "beats"
        elif c["diff"] < 0 and real:
            word = "LOSES to"
        else:
            word = "is level with"
        out.append(
            f"{names.get(c['task'], c['task'])}: {method} {word} {c['baseline']} "
            f"(Δρ {_f(c['diff'])}, 95 % [{_f(c['low'])}, {_f(c['high'])}])."
        )
    disc = [t["key"] for t in tasks if t["discriminating"]]
    if disc:

        def mean_of(m: str) -> float:
            return _mean([r["spearman"] for r in rows if r["method"] == m and r["task"] in disc])

        dass, params, flops = mean_of(method), mean_of("params"), mean_of("flops")
        best = max(params, flops) if math.isfinite(max(params, flops)) else float("nan")
        gap = dass - best
        out.append(
            f"Mean over the {len(disc)} discriminating tasks: {method} ρ {_f(dass)}, parameters "
            f"{_f(params)}, FLOPs {_f(flops)}: {method} is {_f(gap)} "
            f"{'above' if gap >= 0 else 'below'} the better size baseline (the aim is +0.15"
            f"{'; met' if gap >= 0.15 else '; NOT met'})."
        )
    else:
        out.append("No task here is discriminating: the ranking figures cannot tell methods apart.")
    return out


def few_shot_table(rows: list[dict[str, Any]]) -> str:
    """Mean $\\rho$ per method and $k$, over all tasks, the discriminating ones and those on
    datasets meta-training never saw."""
    from dassgnn.bench.few_shot import few_shot_means

    means = few_shot_means(rows)
    shots = sorted({r["k"] for r in rows})
    groups = [g for g in ("all", "discriminating", "unseen") if g in means]
    counts = {
        "all": len({r["task"] for r in rows}),
        "discriminating": len({r["task"] for r in rows if r["discriminating"]}),
        "unseen": len({r["task"] for r in rows if r["unseen_dataset"]}),
    }
    head = "| method | " + " | ".join(f"{g} ({counts[g]}), k={k}" for g in groups for k in shots)
    lines = [head + " |", "|---|" + "---|" * (len(groups) * len(shots))]
    for m in dict.fromkeys(r["method"] for r in rows):
        cells = [_f(means[g].get(m, {}).get(k, float("nan"))) for g in groups for k in shots]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def few_shot_task_table(rows: list[dict[str, Any]], tasks: list[dict[str, Any]], k: int) -> str:
    """$\\rho$ per task and method at one $k$, with the interval over draws and the ceiling."""
    chosen = [r for r in rows if r["k"] == k]
    methods = list(dict.fromkeys(r["method"] for r in chosen))
    by = {(r["task"], r["method"]): r for r in chosen}
    lines = [
        "| task | ceiling | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for t in tasks:
        cells = []
        for m in methods:
            r = by.get((t["key"], m))
            cells.append(
                ""
                if r is None
                else f"{_f(r['spearman'])} [{_f(r['spearman_low'])}, {_f(r['spearman_high'])}]"
            )
        if any(cells):
            mark = " *" if t["discriminating"] else ""
            lines.append(f"| {t['name']}{mark} | {_f(t['ceiling'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
