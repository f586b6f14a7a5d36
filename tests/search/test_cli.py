import json

import numpy as np
import pytest
import torch

from dassgnn.cli import main
from dassgnn.data import load_dataset
from dassgnn.kd import Recipe, train_teacher
from dassgnn.space import ResNetSpace

from ..conftest import write_npz


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A teacher checkpoint trained for a few epochs on digits saved as an .npz of its own."""
    tmp = tmp_path_factory.mktemp("search_cli")
    digits = load_dataset("digits")
    write_npz(tmp / "mine.npz", digits)
    from dassgnn.data import Task

    data = Task(str(tmp / "mine.npz"), tuple(range(10)), image_size=16, channels=1).load()
    space = ResNetSpace(widths=(8, 16), depths=(2, 2), strides=(1, 2))
    teacher, _ = train_teacher(space, data, Recipe(epochs=2, lr=0.1, eval_every=0))
    torch.save(teacher.state_dict(), tmp / "teacher.pt")
    return tmp


def run(files, *extra):
    base = [
        "search",
        "--teacher",
        str(files / "teacher.pt"),
        "--data",
        str(files / "mine.npz"),
        "--image-size",
        "16",
        "--method",
        "params",
        "--quiet",
    ]
    return main([*base, *extra])


def test_search_prints_a_table_and_writes_json(files, capsys, tmp_path):
    out = tmp_path / "out" / "result.json"
    assert run(files, "--max-params", "3k", "--top-k", "3", "--pareto", "--json", str(out)) == 0
    text = capsys.readouterr().out
    assert "3 candidates" not in text and "params score" in text and "Pareto front" in text
    assert text.count("teacher: ") == 1  # once, not again under the front
    assert "within the budget (max_params=3,000)" in text
    result = json.loads(out.read_text())
    assert len(result["candidates"]) == 3 and result["space"]["name"] == "resnet"
    assert all(c["params"] <= 3000 for c in result["candidates"])


def test_search_runs_the_evolution_from_the_shell(files):
    pytest.importorskip(
        "pymoo", reason="strategy evolution needs pymoo: pip install dassgnn[search]"
    )
    args = ["--max-params", "3k", "--top-k", "3", "--strategy", "evolution"]
    assert run(files, *args, "--population", "10", "--generations", "3") == 0


def test_bad_budgets(files, capsys):
    assert run(files, "--max-params", "100") == 2
    err = capsys.readouterr().err
    assert "no student meets the budget max_params=100: the smallest student" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    for extra in (["--max-flops", "1.5"], ["--pool-size", "0"]):  # argparse's own errors
        with pytest.raises(SystemExit) as exit_info:
            run(files, *extra)
        assert exit_info.value.code == 2
        assert "must be a positive whole number" in capsys.readouterr().err
    for value in ("inf", "1e400", "nan"):
        with pytest.raises(SystemExit) as exit_info:
            run(files, "--max-params", value)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "must be a finite whole number" in err and "Traceback" not in err


def test_bad_devices_are_refused_before_any_work(files, capsys):
    assert run(files, "--device", "gpu") == 2
    err = capsys.readouterr().err
    assert "not a torch device (did you mean 'cuda'?)" in err and err.count("\n") == 1
    if not torch.cuda.is_available():
        assert run(files, "--device", "cuda") == 2
        assert "torch finds no CUDA GPU on this machine" in capsys.readouterr().err


def test_bad_files(files, capsys, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 10)
    assert main(["search", "--teacher", str(junk), "--data", "digits", "--method", "params"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not load with torch.load(weights_only=True)" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    teacher = str(files / "teacher.pt")
    assert main(["search", "--teacher", teacher, "--data", str(empty), "--method", "params"]) == 2
    assert "neither layout: it is empty" in capsys.readouterr().err
    assert main(["search", "--teacher", teacher, "--data", "usps_typo", "--method", "params"]) == 2
    assert "unknown dataset 'usps_typo'" in capsys.readouterr().err
    five = tmp_path / "five.npz"
    digits = load_dataset("digits")
    keep = digits.train.labels < 5
    np.savez(
        five,
        x_train=digits.train.images[keep],
        x_test=digits.test.images,
        y_train=digits.train.labels[keep],
        y_test=digits.test.labels % 5,
        classes=np.array(digits.classes[:5]),
    )
    assert main(["search", "--teacher", teacher, "--data", str(five), "--method", "params"]) == 2
    assert "has 5 classes but the teacher's head has 10 outputs" in capsys.readouterr().err
    with pytest.raises(ValueError):
        main(["--debug", "search", "--teacher", str(junk), "--data", "digits"])


def test_the_image_size_is_inferred_from_the_teacher(files, capsys):
    """The teacher was trained at 16 px: without --image-size the search finds it."""
    args = ["search", "--teacher", str(files / "teacher.pt"), "--data", str(files / "mine.npz")]
    assert main([*args, "--method", "params", "--quiet", "--pool-size", "50"]) == 0
    out = capsys.readouterr().out
    assert "image size 16 px, where the teacher is most accurate (" in out
    assert "% at 32" in out and "--image-size sets it" in out


def test_a_one_class_folder_is_named_in_the_singular(files, tmp_path, capsys):
    from PIL import Image

    one = tmp_path / "one"
    (one / "cat").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(one / "cat" / f"{i}.png")
    teacher = str(files / "teacher.pt")
    assert main(["search", "--teacher", teacher, "--data", str(one), "--method", "params"]) == 2
    err = capsys.readouterr().err
    assert "has 1 class" in err and "1 classes" not in err, err
