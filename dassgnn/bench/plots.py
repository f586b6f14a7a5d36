"""The benchmark's figures (matplotlib, written as PNG files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dassgnn.bench.tasks import BenchTask


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def scatter(bench: BenchTask, scored: dict[str, dict[str, Any]], path: Path) -> Path:
    """Each method's scores against the measured seed-mean KD accuracy of one task."""
    plt = _pyplot()
    rows, cols = _grid(len(scored))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    truth = 100 * bench.labels
    for ax, (name, entry) in zip(axes.flat, scored.items(), strict=False):
        s = np.asarray(entry["scores"], dtype=float)
        ok = np.isfinite(s)
        ax.scatter(s[ok], truth[ok], s=12)
        positive = s[ok][s[ok] > 0]
        if positive.size == ok.sum() and positive.size and positive.max() > 1e3 * positive.min():
            ax.set_xscale("log")  # e.g. synflow spans many orders of magnitude
        ax.set_title(f"{name} ({int((~ok).sum())} non-finite)" if (~ok).any() else name, fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.set_ylabel("KD accuracy %", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(scored) :]:
        ax.axis("off")
    fig.suptitle(f"{bench.name}: scores vs measured KD accuracy", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def rho_bars(rows: list[dict[str, Any]], tasks: list[dict[str, Any]], path: Path) -> Path:
    """Spearman $\\rho$ of every method on every task, with bootstrap intervals
    and the task's ceiling as a dashed line."""
    plt = _pyplot()
    n_rows, cols = _grid(len(tasks))
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.0 * cols, 3.0 * n_rows), squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["task"], r["method"]): r for r in rows}
    for ax, t in zip(axes.flat, tasks, strict=False):
        vals = [by[(t["key"], m)] for m in methods if (t["key"], m) in by]
        rho = np.array([v["spearman"] for v in vals], dtype=float)
        low = np.array([v["spearman_low"] for v in vals], dtype=float)
        high = np.array([v["spearman_high"] for v in vals], dtype=float)
        x = np.arange(len(vals))
        err = np.vstack([np.nan_to_num(rho - low), np.nan_to_num(high - rho)])
        colors = ["tab:red" if v["method"].startswith("dass") else "tab:blue" for v in vals]
        ax.bar(x, np.nan_to_num(rho), yerr=err, color=colors, capsize=2)
        if math.isfinite(t["ceiling"]):
            ax.axhline(t["ceiling"], ls="--", color="k", lw=1, label="ceiling")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(x)
        ax.set_xticklabels([v["method"] for v in vals], rotation=60, fontsize=7, ha="right")
        ax.set_ylim(-1, 1)
        ax.set_title(t["name"] + (" *" if t["discriminating"] else ""), fontsize=9)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.suptitle("Spearman ρ with the seed-mean KD accuracy (dashed: ceiling; * discriminating)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def picks_plot(
    benches: list[BenchTask], picks: list[dict[str, Any]], budgets: dict[str, float], path: Path
) -> Path:
    """Measured KD accuracy against parameters, each method's pick within the budget marked."""
    plt = _pyplot()
    n_rows, cols = _grid(len(benches))
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.0 * cols, 3.2 * n_rows), squeeze=False)
    for ax, bench in zip(axes.flat, benches, strict=False):
        params = bench.params() / 1e3
        ax.scatter(params, 100 * bench.labels, s=10, color="lightgrey", label="measured")
        ax.axvline(budgets[bench.key] / 1e3, ls=":", color="k", lw=1)
        mine = [p for p in picks if p["task"] == bench.key and p.get("arch")]
        markers = "os^vD<>pPX*"
        for i, p in enumerate(mine):  # a marker each and a legend: no labels to overlap
            ax.scatter(
                p["params"] / 1e3,
                p["mean"],
                s=60 if p["method"] == "oracle" else 30,
                marker="*" if p["method"] == "oracle" else markers[i % len(markers)],
                facecolors="none" if p["method"] != "oracle" else None,
                edgecolors=f"C{i % 10}",
                color=f"C{i % 10}" if p["method"] == "oracle" else None,
                label=p["method"],
            )
        if mine:
            ax.legend(fontsize=5, loc="lower right", ncol=2)
        ax.set_xlabel("parameters (k)", fontsize=8)
        ax.set_ylabel("KD accuracy %", fontsize=8)
        ax.set_title(bench.name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(benches) :]:
        ax.axis("off")
    fig.suptitle("Each method's pick within the budget (dotted) among the measured students")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def few_shot_plot(rows: list[dict[str, Any]], tasks: list[dict[str, Any]], path: Path) -> Path:
    """Spearman $\\rho$ against the number $k$ of measured students, one panel a task (its
    ceiling dashed) and one of the means, a line a method (bars: the bootstrap interval over
    support draws)."""
    plt = _pyplot()
    panels = [*tasks, {"key": None, "name": "mean over all tasks", "ceiling": float("nan")}]
    n_rows, cols = _grid(len(panels))
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.0 * cols, 3.0 * n_rows), squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    shots = sorted({r["k"] for r in rows})
    for ax, t in zip(axes.flat, panels, strict=False):
        for m in methods:
            mine = [r for r in rows if r["method"] == m]
            if t["key"] is None:
                means = [np.nanmean([r["spearman"] for r in mine if r["k"] == k]) for k in shots]
                width = 1.5 if m in ("dass", "ridge") else 0.8
                ax.plot(shots, means, marker="o", ms=3, lw=width, label=m)
                continue
            pts = sorted((r for r in mine if r["task"] == t["key"]), key=lambda r: r["k"])
            if not pts:
                continue
            ks = [r["k"] for r in pts]
            y = np.array([r["spearman"] for r in pts], dtype=float)
            low = np.array([r["spearman_low"] for r in pts], dtype=float)
            high = np.array([r["spearman_high"] for r in pts], dtype=float)
            err = np.vstack([np.nan_to_num(y - low), np.nan_to_num(high - y)])
            ax.errorbar(
                ks,
                y,
                yerr=err,
                marker="o",
                ms=3,
                capsize=2,
                lw=1.5 if m in ("dass", "ridge") else 0.8,
                label=m,
            )
        if math.isfinite(t["ceiling"]):
            ax.axhline(t["ceiling"], ls="--", color="k", lw=1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(shots)
        ax.set_ylim(-0.6, 1.05)
        ax.set_xlabel("measured students k", fontsize=8)
        ax.set_ylabel("Spearman ρ", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(t["name"] + (" *" if t.get("discriminating") else ""), fontsize=9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[len(panels) - 1].legend(fontsize=6, ncol=2, loc="lower right")
    fig.suptitle("Spearman ρ against k measured students (dashed: ceiling; * discriminating)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
