import json

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


def test_bad_input_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"unknown methods \[.nosuch.\]; valid: .*params"):
        main(["--methods", "nosuch", "--out", str(tmp_path / "a")])
    with pytest.raises(ValueError, match=r"unknown tasks \[.imagenet.\]"):
        main(["--methods", "params", "--tasks", "imagenet", "--out", str(tmp_path / "b")])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot write the results folder"):
        main(["--methods", "params", "--tasks", "digits", "--out", str(blocker / "x")])
    with pytest.raises(FileNotFoundError, match=r"data folder .* does not exist"):
        main(["--methods", "params", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_learned_method_without_data_or_checkpoint_is_explained(capsys):
    from dassgnn.bench.runner import load_method

    message = "records hold no meta-train task with scratch runs"
    with (
        RecordStore(default_store_path(), readonly=True) as store,
        pytest.raises(ValueError, match=message),
    ):
        load_method("metad2a", store, progress=False)
    assert "fitting" not in capsys.readouterr().out
