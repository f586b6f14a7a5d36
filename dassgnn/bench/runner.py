"""Runs the benchmark: loads the methods and the meta-test tasks, scores, searches,
writes the results folder (JSON with provenance, Markdown, plots)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dassgnn.bench import plots
from dassgnn.bench.config import BenchConfig
from dassgnn.bench.correlation import compare_with_size, correlation_rows, score_methods
from dassgnn.bench.few_shot import few_shot_rows, few_shot_verdict
from dassgnn.bench.provenance import provenance, short_commit
from dassgnn.bench.report import (
    comparison_table,
    few_shot_table,
    few_shot_task_table,
    metric_tables,
    picks_table,
    summary,
    tasks_table,
    verdict,
)
from dassgnn.bench.search import budget_of, measured_picks, pool_picks, train_picks
from dassgnn.bench.tasks import BenchTask, load_bench_task, missing_data
from dassgnn.data import META_TEST_ONLY
from dassgnn.predictor.checkpoints import load_ranker
from dassgnn.ranking import RankingMethod, list_rankers


def check_config(config: BenchConfig, store: Any, out: Path) -> None:
    """Everything that can fail before the long work starts: unknown methods or
    tasks, an output folder that cannot be written.

    Raises:
        ValueError: A method or task that does not exist (the message lists the valid ones).
        OSError: The output folder cannot be written.
    """
    valid = list_rankers()
    unknown = [m for m in config.methods if m not in valid]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(valid)}")
    meta_test = {t.key: t for t in store.tasks("meta-test")}
    datasets = {t.dataset for t in meta_test.values()}
    bad = [t for t in config.tasks if t not in meta_test and t not in datasets]
    if bad:
        raise ValueError(
            f"unknown tasks {bad}; give meta-test task keys or dataset names: "
            f"{', '.join(sorted(datasets))}"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise OSError(f"cannot write the results folder {str(out)!r}: {error.strerror}") from None


def load_method(name: str, store: Any, progress: bool = True) -> RankingMethod:
    """A ready ranking method ([`load_ranker`][dassgnn.predictor.load_ranker]): learned ones
    from their committed checkpoint, else fitted on the records."""
    return load_ranker(name, store, progress=progress)


def select_tasks(config: BenchConfig, store: Any) -> tuple[list[str], list[dict[str, str]]]:
    """The meta-test tasks to run (keys) and those skipped, with the reason."""
    chosen, skipped = [], []
    for task in store.tasks("meta-test"):
        if config.tasks and task.key not in config.tasks and task.dataset not in config.tasks:
            continue
        if not store.runs(task.key, mode="kd"):
            continue
        reason = missing_data(task)
        if reason is None:
            chosen.append(task.key)
        else:
            skipped.append({"task": task.key, "reason": reason})
    return chosen, skipped


@dataclass
class _Collected:
    """What the benchmark gathers, task by task."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    benches: list[BenchTask] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    picks: list[dict[str, Any]] = field(default_factory=list)
    pool: list[dict[str, Any]] = field(default_factory=list)
    few: list[dict[str, Any]] = field(default_factory=list)
    budgets: dict[str, float] = field(default_factory=dict)


def run_benchmark(
    config: BenchConfig, store: Any, store_path: Path, out: Path, progress: bool = True
) -> dict[str, Any]:
    """Runs the benchmark and writes ``results.json``, ``results.md`` and the plots into ``out``.

    The steps: check the settings, choose the meta-test tasks whose data is here, load the
    methods, then for each task score every method on its measured students (correlations,
    DaSS against size, the few-shot study, the picks within the budget, the pool search),
    and write the results with the verdicts and the plots.

    Returns:
        dict: The results (as written to ``results.json``).
    """
    start = time.perf_counter()
    check_config(config, store, out)
    keys, skipped = select_tasks(config, store)
    if not keys:
        raise ValueError(
            "no meta-test task can run here: "
            + "; ".join(f"{s['task']}: {s['reason']}" for s in skipped)
        )
    for s in skipped:
        print(f"skipped {s['task']}: {s['reason']}", flush=True)
    methods, skipped_methods = _load_methods(config, store, progress)
    made_with = provenance(config, store_path, methods)  # the code and data at the start
    (out / "plots").mkdir(exist_ok=True)
    for stale in (out / "plots").glob("*.png"):  # plots of tasks not in this run go
        stale.unlink()
    got = _Collected()
    for key in tqdm(keys, desc="tasks", disable=not progress):
        _bench_task(load_bench_task(store, key), methods, config, out, progress, got)
    results = {
        "provenance": made_with,
        "tasks": got.tasks,
        "skipped_tasks": skipped,
        "skipped_methods": skipped_methods,
        "correlation": got.rows,
        "comparisons": got.comparisons,
        "measured_picks": got.picks,
        "pool_search": got.pool,
        "budgets": got.budgets,
        "few_shot": got.few,
        "verdict": verdict(got.rows, got.comparisons, got.tasks),
        "few_shot_verdict": few_shot_verdict(got.few) if got.few else [],
        "wall_seconds": time.perf_counter() - start,
    }
    results["summary"] = summary(results)
    _write(results, got, out)
    return results


def _load_methods(
    config: BenchConfig, store: Any, progress: bool
) -> tuple[dict[str, RankingMethod], list[dict[str, str]]]:
    """The methods that load, and those skipped with the reason."""
    methods: dict[str, RankingMethod] = {}
    skipped = []
    for m in config.methods:
        try:
            methods[m] = load_method(m, store, progress)
        except (ValueError, OSError, ImportError) as error:
            reason = str(error).splitlines()[0]
            skipped.append({"method": m, "reason": reason})
            print(f"skipped method {m}: {reason}", flush=True)
    if not methods:
        raise ValueError(
            "no method could be loaded: "
            + "; ".join(f"{s['method']}: {s['reason']}" for s in skipped)
        )
    return methods, skipped


def _task_info(bench: BenchTask) -> dict[str, Any]:
    q = bench.quality
    return {
        "key": bench.key,
        "name": bench.name,
        "dataset": bench.task.dataset,
        "classes": bench.task.num_classes,
        "students": len(bench.archs),
        "seeds": len(bench.seeds),
        "teacher_acc": bench.teacher.accuracy,
        "kd_min": q["kd_min"],
        "kd_max": q["kd_max"],
        "reliability": q["mean_rho"],
        "ceiling": q["ceiling"],
        "discriminating": bench.discriminating,
        "unseen_dataset": bench.task.dataset in META_TEST_ONLY,
    }


def _bench_task(
    bench: BenchTask,
    methods: dict[str, RankingMethod],
    config: BenchConfig,
    out: Path,
    progress: bool,
    got: _Collected,
) -> None:
    """Every figure of one task, added to ``got``."""
    got.benches.append(bench)
    got.tasks.append(_task_info(bench))
    scored = score_methods(bench, methods)
    n, seed = config.bootstrap, config.seed
    if config.shots:
        got.few += few_shot_rows(
            bench, methods, config.shots, config.draws, seed=seed, n_resamples=n
        )
    got.rows += correlation_rows(bench, scored, n_resamples=n, seed=seed)
    comparison = compare_with_size(bench, scored, n_resamples=n, seed=seed)
    if comparison is not None:
        got.comparisons.append(comparison)
    budget = got.budgets[bench.key] = budget_of(bench, config.budget)
    got.picks += measured_picks(bench, scored, budget)
    plots.scatter(bench, scored, out / "plots" / f"scatter_{bench.name}.png")
    if config.pool_methods and (not config.pool_tasks or bench.task.dataset in config.pool_tasks):
        got.pool += _pool_search(bench, methods, config, budget, progress)


def _write(results: dict[str, Any], got: _Collected, out: Path) -> None:
    """The plots, ``results.json`` and ``results.md``."""
    plots.rho_bars(got.rows, got.tasks, out / "plots" / "rho.png")
    if got.few:
        plots.few_shot_plot(got.few, got.tasks, out / "plots" / "few_shot.png")
    plots.picks_plot(got.benches, got.picks, got.budgets, out / "plots" / "picks.png")
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=1))
    (out / "results.md").write_text(markdown(results))


def _pool_search(
    bench: BenchTask,
    methods: dict[str, RankingMethod],
    config: BenchConfig,
    budget: float,
    progress: bool,
) -> list[dict[str, Any]]:
    chosen = {m: methods[m] for m in config.pool_methods if m in methods}
    pool, found = pool_picks(bench, chosen, budget, config.pool_size, config.seed)
    archs = [p["arch"] for p in found.values() if p["arch"] is not None]
    accs = train_picks(bench, archs, config.kd_seeds, device=config.device, progress=progress)
    rows = []
    for name, p in found.items():
        arch = p["arch"]
        values = accs.get(arch.id, []) if arch is not None else []
        rows.append(
            {
                "task": bench.key,
                "method": name,
                "pool": len(pool),
                "arch": None if arch is None else arch.id,
                "params": None if arch is None else float(bench.params([arch])[0]),
                "accuracies": values,
                "mean": float(np.mean(values)) if values else float("nan"),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else float("nan"),
                "seconds": p["seconds"],
                "error": p["error"],
            }
        )
    return rows


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if np.isfinite(value) else str(value)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown (the tables the docs show)."""
    tasks = results["tasks"]
    rows = results["correlation"]
    p = results["provenance"]
    parts = [
        f"# Benchmark results ({p['config']['name']})",
        f"dassgnn {p['dassgnn']} (commit {short_commit(p['git_commit'])}), torch {p['torch']}, "
        f"PyG {p['torch_geometric']}, {p['device']}, {p['date']}; "
        f"{results['wall_seconds'] / 60:.1f} min. "
        f"Records sha256 `{str(p['records_sha256'])[:16]}`.",
        "## Verdict",
        "\n".join(f"- {line}" for line in results["verdict"]),
        "## Meta-test tasks",
        tasks_table(tasks),
        "Ceiling: the square root of the seed-mean label's reliability, the highest ρ any "
        "method can reach. In every table, * marks the discriminating tasks (reliability ≥ "
        "0.9, best student below 95 %, spread ≥ 3× the seed noise): only there can methods "
        "be told apart.",
        "## Spearman ρ with the seed-mean KD accuracy [95 % bootstrap interval over students]",
        metric_tables(rows, tasks, "spearman"),
        "## Kendall τ",
        metric_tables(rows, tasks, "kendall"),
        "## Pearson r",
        metric_tables(rows, tasks, "pearson"),
        "## Precision@5",
        metric_tables(rows, tasks, "precision_at_5", ceiling=False),
        "## Regret@1 (accuracy points lost by taking the top-scored student)",
        metric_tables(rows, tasks, "regret_at_1", ceiling=False),
        "## The DaSS predictor against the better of parameters and FLOPs",
        comparison_table(results["comparisons"], tasks),
        "## Searched students: top-1 within the budget among the measured students (KD accuracy %)",
        picks_table(results["measured_picks"], tasks, "measured"),
    ]
    if results.get("few_shot"):
        parts += [
            "## Few-shot: Spearman ρ against k measured students",
            "Each task's students are split into k support students, measured once (KD seed "
            "0), and the rest, which every method ranks; ρ with the rest's seed-mean label, "
            f"mean over {p['config']['draws']} draws of the support set for k > 0 (the same "
            "draws for every method). Methods that do not "
            "use measured students score the same students without them.",
            "\n".join(f"- {line}" for line in results.get("few_shot_verdict", [])),
            few_shot_table(results["few_shot"]),
            "### ρ per task at k = 10 [95 % bootstrap interval over draws]",
            few_shot_task_table(results["few_shot"], tasks, 10),
        ]
    if results["pool_search"]:
        parts += [
            "## Searched students: top-1 within the budget in a sampled pool, KD-trained",
            pool_table(results["pool_search"], tasks),
        ]
    if results.get("skipped_methods"):
        parts += [
            "## Skipped methods",
            "\n".join(f"- {s['method']}: {s['reason']}" for s in results["skipped_methods"]),
        ]
    if results["skipped_tasks"]:
        parts += [
            "## Skipped tasks",
            "\n".join(f"- {s['task']}: {s['reason']}" for s in results["skipped_tasks"]),
        ]
    parts += [
        "## Seconds to score the measured students",
        metric_tables(rows, tasks, "seconds", ceiling=False),
    ]
    return "\n\n".join(parts) + "\n"


def pool_table(rows: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> str:
    """The pool search: each method's pick, its KD accuracy over the seeds, its search time."""
    names = {t["key"]: t["name"] for t in tasks}
    lines = [
        "| task | method | pool | pick | params (k) | KD accuracy % | seeds | search s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = f"{r['mean']:.1f} ± {r['std']:.1f}" if r["accuracies"] else (r["error"] or "")
        params = f"{r['params'] / 1e3:.1f}" if r["params"] else ""
        lines.append(
            f"| {names.get(r['task'], r['task'])} | {r['method']} | {r['pool']} | "
            f"`{r['arch']}` | {params} | {acc} | {len(r['accuracies'])} | {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def environment_data_dir(path: str | os.PathLike[str] | None) -> None:
    """Points the library at a data folder (``DASSGNN_DATA``) for this run."""
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"data folder {str(folder)!r} does not exist")
        os.environ["DASSGNN_DATA"] = str(folder.resolve())
