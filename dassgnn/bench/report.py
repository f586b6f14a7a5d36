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
        "reliability | ceiling | discriminating | unseen dataset |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        mark = " *" if t["discriminating"] else ""
        lines.append(
            f"| {t['name']}{mark} | {t['dataset']} | {t['classes']} | {t['students']} | "
            f"{t['seeds']} | {_f(100 * t['teacher_acc'], 1)} | "
            f"{_f(100 * t['kd_min'], 1)}–{_f(100 * t['kd_max'], 1)} | "
            f"{_f(t['reliability'])} | {_f(t['ceiling'])} | "
            f"{'yes' if t['discriminating'] else 'no'} | "
            f"{'yes' if t.get('unseen_dataset') else 'no'} |"
        )
    return "\n".join(lines)


LEARNED_AND_SIZE = ("dass", "dass_pooled", "metad2a", "ridge", "params", "flops")
"""The methods of the first of the two tables a figure is split into (the rest, the
training-free proxies and random, go in the second), so that each fits the page."""


def metric_tables(
    rows: list[dict[str, Any]], tasks: list[dict[str, Any]], metric: str, ceiling: bool = True
) -> str:
    """[`metric_table`][dassgnn.bench.report.metric_table] split in two: the predictors and
    the size baselines, then the training-free proxies."""
    first = [r for r in rows if r["method"] in LEARNED_AND_SIZE]
    rest = [r for r in rows if r["method"] not in LEARNED_AND_SIZE]
    return "\n\n".join(metric_table(part, tasks, metric, ceiling) for part in (first, rest) if part)


def metric_table(
    rows: list[dict[str, Any]], tasks: list[dict[str, Any]], metric: str, ceiling: bool = True
) -> str:
    """Tasks × methods of one figure (Spearman with its bootstrap interval), with
    each task's ceiling (unless ``ceiling`` is false: for figures that are not
    correlations), the mean over all tasks, over the discriminating ones and over the
    tasks on datasets meta-training never saw."""
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
    """A reading of the correlation figures, one line a task and one for the means.

    A discriminating task gets its best method and ``method`` against the better size
    baseline with the paired bootstrap interval (beats / is level with / LOSES to); a task
    that is not discriminating says only that, since no ranking figure means anything on
    it. The last line compares the means over the discriminating tasks with the aim."""
    out = []
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    compared = {c["task"]: c for c in comparisons}
    for t in tasks:
        if not t["discriminating"]:
            out.append(
                f"{t['name']}: not discriminating (label reliability {_f(t['reliability'])}, "
                f"best student {_f(100 * t['kd_max'], 1)} %): no method can be told apart here."
            )
            continue
        ranked = sorted(
            (r for r in by_task.get(t["key"], []) if math.isfinite(r["spearman"])),
            key=lambda r: -r["spearman"],
        )
        line = f"{t['name']} (ceiling {_f(t['ceiling'])}):"
        if ranked:
            line += f" best {ranked[0]['method']} ρ {_f(ranked[0]['spearman'])};"
        c = compared.get(t["key"])
        if c is not None:
            real = c["low"] > 0 or c["high"] < 0
            word = "is level with"
            if real:
                word = "beats" if c["diff"] > 0 else "LOSES to"
            line += (
                f" {method} {word} {c['baseline']} (Δρ {_f(c['diff'])}, 95 % "
                f"[{_f(c['low'])}, {_f(c['high'])}])."
            )
        out.append(line)
    disc = [t["key"] for t in tasks if t["discriminating"]]
    if disc:

        def mean_of(m: str) -> float:
            return _mean([r["spearman"] for r in rows if r["method"] == m and r["task"] in disc])

        dass, params, flops = mean_of(method), mean_of("params"), mean_of("flops")
        best = max(params, flops) if math.isfinite(max(params, flops)) else float("nan")
        gap = dass - best
        out.append(
            f"Mean over the {len(disc)} discriminating tasks: {method} ρ {_f(dass)}, parameters "
            f"{_f(params)}, FLOPs {_f(flops)}: {method} is {_f(abs(gap))} "
            f"{'above' if gap >= 0 else 'below'} the better size baseline (the aim is +0.15"
            f"{'; met' if gap >= 0.15 else '; NOT met'})."
        )
    else:
        out.append("No task here is discriminating: the ranking figures cannot tell methods apart.")
    return out


def summary(results: dict[str, Any], method: str = "dass") -> list[str]:
    """The few lines a run ends with: the tasks, the means, the verdicts (zero-shot and
    few-shot) and the searched-student picks."""
    tasks = results["tasks"]
    rows = results["correlation"]
    disc = [t for t in tasks if t["discriminating"]]
    unseen = [t for t in tasks if t.get("unseen_dataset")]
    lines = [
        f"{len(tasks)} meta-test tasks: {len(disc)} discriminating, {len(unseen)} on datasets "
        "that meta-training never saw."
    ]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    shown = [m for m in (method, "params", "flops", "ridge") if m in methods]
    for label, group in (("all", tasks), ("discriminating", disc), ("unseen datasets", unseen)):
        if not group:
            continue
        keys = {t["key"] for t in group}
        values = {
            m: _mean([r["spearman"] for r in rows if r["method"] == m and r["task"] in keys])
            for m in shown
        }
        means = [f"{m} {_f(v)}" for m, v in values.items()]
        lines.append(f"Mean Spearman ρ, {label} ({len(group)}): " + ", ".join(means) + ".")
    lines.append(results["verdict"][-1])
    lines += results.get("few_shot_verdict", [])
    names = {t["key"]: t["name"] for t in tasks}
    for task in dict.fromkeys(r["task"] for r in results.get("pool_search", [])):
        picks = [r for r in results["pool_search"] if r["task"] == task and r["accuracies"]]
        text = ", ".join(f"{r['method']} {_f(r['mean'], 1)} ± {_f(r['std'], 1)} %" for r in picks)
        lines.append(f"Pool picks on {names.get(task, task)}, KD-trained: {text}.")
    measured = results.get("measured_picks", [])
    oracle = {r["task"]: r["mean"] for r in measured if r["method"] == "oracle"}
    mine = [r for r in measured if r["method"] == method and r["task"] in oracle]
    if mine:
        gaps = [oracle[r["task"]] - r["mean"] for r in mine]
        hits = sum(g <= 1e-9 for g in gaps)
        lines.append(
            f"Top-1 of {method} within the budget among the measured students: the best one on "
            f"{hits} of {len(mine)} tasks, {_f(_mean(gaps), 1)} points below it on average."
        )
    return lines


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
