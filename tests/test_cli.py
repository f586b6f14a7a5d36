import csv

import pytest
import yaml

from dassgnn.cli import main
from dassgnn.records import RecordStore

from .collect.conftest import tiny_plan_dict


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    plan = tmp / "plan.yaml"
    plan.write_text(yaml.safe_dump(tiny_plan_dict(students=2, kd_seeds=[0], scratch_seeds=[0])))
    db = tmp / "r.db"
    assert (
        main(
            [
                "collect",
                "--config",
                str(plan),
                "--store",
                str(db),
                "--executor",
                "serial",
                "--quiet",
                "--checkpoint",
            ]
        )
        == 0
    )
    return plan, db


def test_collect_stats_export(collected, capsys, tmp_path):
    _, db = collected
    assert not db.with_name(db.name + "-wal").exists()  # --checkpoint folds the WAL in
    assert main(["records", "stats", str(db)]) == 0
    out = capsys.readouterr().out
    assert "teachers         1 (1 with weights)" in out
    assert "runs             4 (kd ok 2, scratch ok 2)" in out
    assert (
        main(["records", "export", str(tmp_path / "runs.csv"), "--store", str(db), "--mode", "kd"])
        == 0
    )
    with open(tmp_path / "runs.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and {r["mode"] for r in table} == {"kd"}
    assert {"arch_id", "test_acc", "params", "flops", "dataset"} <= set(table[0])


def test_merge_reports_and_skips_duplicates(collected, capsys, tmp_path):
    _, db = collected
    target = tmp_path / "merged.db"
    assert main(["records", "merge", str(target), str(db), str(db)]) == 0
    with RecordStore(target, readonly=True) as store:
        assert len(store.runs(status=None)) == 4
    first, second = capsys.readouterr().out.split("merged ")[1:]
    assert "runs        +4 added, 0 identical" in first and "conflicts   0" in first
    assert "runs        +0 added, 4 identical" in second


def test_bad_input_exits_with_a_message(tmp_path, capsys):
    assert main(["collect", "--config", str(tmp_path / "none.toml"), "--store", "x.db"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny_plan_dict(dataset="imagenet")))
    assert main(["collect", "--config", str(bad), "--store", str(tmp_path / "r.db")]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    assert main(["records", "stats", str(junk)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert junk.read_bytes() == b"this is not a database at all" * 100


def test_snapshot_of_a_store_in_use(collected, tmp_path):
    _, db = collected
    with RecordStore(db) as live:  # a writer holds the store open in WAL mode
        assert main(["records", "snapshot", str(db), str(tmp_path / "snap.db")]) == 0
        assert live.runs(status=None)
    assert not (tmp_path / "snap.db-wal").exists()
    with RecordStore(tmp_path / "snap.db", readonly=True) as snap:
        assert len(snap.runs(status=None)) == 4 and len(snap.teachers()) == 1
