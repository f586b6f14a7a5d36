import json

import pytest

from dassgnn.cli import main
from dassgnn.predictor import CheckpointError, DaSSRanker


@pytest.mark.slow
@pytest.mark.shared_data
def test_meta_train_writes_a_checkpoint_with_the_methods_own_defaults(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"hidden": 16, "per_class": 2, "eval_every": 1}))
    out = tmp_path / "pooled.pt"
    args = ["meta-train", "--method", "dass_pooled", "--out", str(out), "--config", str(config)]
    assert main([*args, "--steps", "2", "--val-tasks", "1", "--quiet"]) == 0
    assert "saved" in capsys.readouterr().out
    from dassgnn.baselines import PooledDaSS

    with pytest.raises(CheckpointError, match="of the ranking method 'dass_pooled', not 'dass'"):
        DaSSRanker.load(out)  # a checkpoint names its method
    loaded = PooledDaSS.load(out)
    assert (
        loaded.config_.meta is False and loaded.config_.hidden == 16 and loaded.config_.steps == 2
    )
    assert len(loaded.val_tasks_) == 1


def test_meta_train_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hiden": 3}))
    assert main(["meta-train", "--out", str(tmp_path / "x.pt"), "--config", str(bad)]) == 2
    assert "unknown predictor settings ['hiden']" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_bench_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "results"
    args = ["bench", "--methods", "params", "flops", "random", "--tasks", "digits"]
    assert main([*args, "--bootstrap", "50", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in results["correlation"]} == {"params", "flops", "random"}
    assert results["provenance"]["records_sha256"] and results["tasks"][0]["dataset"] == "digits"
    assert (out / "results.md").read_text().startswith("# Benchmark results")
    assert (out / "plots" / "rho.png").is_file() and (out / "plots" / "few_shot.png").is_file()
    assert {r["k"] for r in results["few_shot"]} == {0, 5, 10, 20}
    text = capsys.readouterr().out
    assert "digits-10way-5e57: not discriminating" not in text  # the summary, not every line
    assert "1 meta-test tasks: 0 discriminating" in text
    assert "No task here is discriminating" in text and "ranks best" not in text


def test_bench_bad_input(tmp_path, capsys):
    assert main(["bench", "--methods", "nosuch"]) == 2
    assert "unknown methods ['nosuch']" in capsys.readouterr().err
    assert main(["bench", "--methods", "params", "--tasks", "cifar100"]) == 2
    assert "unknown tasks ['cifar100']" in capsys.readouterr().err
    assert main(["bench", "--methods", "params", "--data", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
