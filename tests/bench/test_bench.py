import json
import re

import numpy as np
import pytest
from scipy.stats import spearmanr

from dassgnn.bench import CONFIGS, BenchConfig, main, run_benchmark
from dassgnn.records import RecordStore, default_store_path
from dassgnn.space import space_from_dict


def test_configs_and_validation():
    assert set(CONFIGS) == {"default", "extended", "full"}
    assert CONFIGS["default"].pool_tasks == ("skimage_textures",)
    assert set(CONFIGS["extended"].pool_tasks) == {"omniglot_small2", "skimage_textures"}
    with pytest.raises(ValueError, match="budget"):
        BenchConfig(budget=0)
    with pytest.raises(ValueError, match=r"pool_methods \['dass'\] are not among the methods"):
        BenchConfig(methods=("params",), pool_methods=("dass",))
    with pytest.raises(TypeError, match="methods must be a list"):
        BenchConfig(methods="params")
    config = CONFIGS["default"].replace(bootstrap=10)
    assert config.bootstrap == 10 and config.to_dict()["methods"] == list(config.methods)


def test_a_small_run_recomputes_from_the_records(tmp_path):
    config = BenchConfig(
        name="tiny",
        methods=("params", "flops", "random"),
        tasks=("digits",),
        pool_methods=(),
        bootstrap=50,
    )
    out = tmp_path / "results"
    with RecordStore(default_store_path(), readonly=True) as store:
        results = run_benchmark(config, store, default_store_path(), out, progress=False)
        (task,) = results["tasks"]
        runs = store.runs(task["key"], mode="kd")
    saved = json.loads((out / "results.json").read_text())
    assert saved["provenance"]["records_sha256"] and saved["provenance"]["torch"]
    assert saved["provenance"]["config"]["methods"] == ["params", "flops", "random"]
    markdown = (out / "results.md").read_text()
    assert "## Verdict" in markdown and task["name"] in markdown
    assert (out / "plots" / "rho.png").is_file()
    # recompute the parameter-count baseline's Spearman rho by hand from the runs
    by_arch: dict[str, list[float]] = {}
    for run in runs:
        by_arch.setdefault(run.arch_id, []).append(run.test_acc)
    with RecordStore(default_store_path(), readonly=True) as store:
        space = space_from_dict(store.get_teacher(runs[0].teacher_id).space)
        channels = store.get_task(task["key"]).channels
    archs = sorted(by_arch)
    labels = [np.mean(by_arch[a]) for a in archs]
    params = [space.params(space.parse(a), 10, channels) for a in archs]
    row = next(r for r in saved["correlation"] if r["method"] == "params")
    assert row["task"] == task["key"] and len(archs) == task["students"] == 40
    assert row["spearman"] == pytest.approx(spearmanr(params, labels).statistic)
    assert row["spearman_low"] <= row["spearman"] <= row["spearman_high"]
    assert any(line.startswith(task["name"]) for line in saved["verdict"])


def test_bad_input_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cases = [
        (["--methods", "nosuch"], r"unknown methods \[.nosuch.\]; valid: .*params"),
        (["--methods", "params", "--tasks", "imagenet"], r"unknown tasks \[.imagenet.\]"),
        (
            ["--methods", "params", "--tasks", "digits", "--out", str(blocker / "x")],
            "cannot write the results folder",
        ),
        (
            ["--methods", "params", "--data", str(tmp_path / "missing")],
            r"data folder .* does not exist",
        ),
    ]
    for args, message in cases:
        out = [] if "--out" in args else ["--out", str(tmp_path / "a")]
        assert main([*args, *out]) == 2
        err = capsys.readouterr().err
        assert re.search(rf"^dassgnn bench: error: {message}", err) and err.count("\n") == 1, err
        with pytest.raises((ValueError, OSError)):
            main([*args, *out, "--debug"])  # the traceback, with --debug
    assert not (tmp_path / "a").exists()


def test_a_learned_method_without_data_or_checkpoint_is_explained(tmp_path, monkeypatch, capsys):
    import dassgnn.predictor.checkpoints as checkpoints
    from dassgnn.bench.runner import load_method

    monkeypatch.setattr(checkpoints, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    message = "no checkpoint at .*metad2a.pt, and no records with meta-train tasks of scratch runs"
    with (
        RecordStore(tmp_path / "empty.db") as store,
        pytest.raises(ValueError, match=message),
    ):
        load_method("metad2a", store, progress=False)
    assert "fitting" not in capsys.readouterr().out


def test_the_verdict_names_a_winner_only_where_the_labels_can_tell():
    from dassgnn.bench.report import verdict

    tasks = [
        {
            "key": "a",
            "name": "cifar10-5way-aaaa",
            "discriminating": True,
            "ceiling": 0.98,
            "reliability": 0.96,
            "kd_max": 0.8,
        },
        {
            "key": "b",
            "name": "digits-10way-bbbb",
            "discriminating": False,
            "ceiling": 0.7,
            "reliability": 0.5,
            "kd_max": 0.99,
        },
    ]
    rows = [
        {"task": t, "method": m, "spearman": v}
        for t, m, v in [
            ("a", "dass", 0.9),
            ("a", "params", 0.8),
            ("a", "flops", 0.7),
            ("b", "diswot", 0.5),
            ("b", "params", 0.1),
            ("b", "dass", 0.0),
            ("b", "flops", 0.0),
        ]
    ]
    comparisons = [{"task": "a", "baseline": "params", "diff": 0.1, "low": 0.02, "high": 0.2}]
    lines = verdict(rows, comparisons, tasks)
    assert lines[0] == (
        "cifar10-5way-aaaa (ceiling 0.98): best dass ρ 0.90; dass beats params "
        "(Δρ 0.10, 95 % [0.02, 0.20])."
    )
    assert lines[1].startswith("digits-10way-bbbb: not discriminating") and "diswot" not in lines[1]
    assert lines[2].startswith("Mean over the 1 discriminating tasks: dass ρ 0.90")
    assert len(lines) == 3  # one line a task, one for the means: nothing said twice


def test_provenance_names_the_commit_and_marks_a_dirty_tree():
    from dassgnn.bench.provenance import short_commit

    assert short_commit("0123456789abcdef") == "0123456789"
    assert short_commit("0123456789abcdef-dirty") == "0123456789-dirty"
    assert short_commit(None) == "unknown"
