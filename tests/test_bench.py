"""tinytx.bench: the tables print what was measured, and each command's options.

The figures themselves are never asserted (timings vary from run to run); what is
checked is what gets measured and how the lines are computed from it.
"""

import math

import pytest
import torch

from tinytx import bench, load_corpus
from tinytx.train import TrainHistory

TINY = ["--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "shakespeare.txt"
    path.write_text(load_corpus("tinyshakespeare")[:20_000], encoding="utf-8")
    return path


def test_generate_times_the_cuda_graph_only_on_cuda():
    cpu = bench.generate_paths(torch.device("cpu"))
    assert list(cpu) == ["decode step", "KVCache", "recompute"]
    cuda = bench.generate_paths(torch.device("cuda"))
    assert list(cuda) == ["CUDA graph", "decode step", "KVCache", "recompute"]
    assert cuda["CUDA graph"] == dict(decode_mode="cuda-graph")
    assert cuda["decode step"] == dict(decode_mode="eager")


def test_generate_table_measures_every_path():
    rows = bench.generate_table(torch.device("cpu"), new_tokens=(3, 5), repeats=1)
    assert [n for n, _ in rows] == [3, 5]
    for _, speeds in rows:
        assert list(speeds) == ["decode step", "KVCache", "recompute"]
        assert all(math.isfinite(v) and v > 0 for v in speeds.values())


def test_generate_prints_speed_ups_over_recompute(monkeypatch, capsys):
    speeds = {"decode step": 600.0, "KVCache": 300.0, "recompute": 120.0}
    monkeypatch.setattr(bench, "generate_table", lambda device: [(500, speeds)])
    assert bench.main(["generate", "--device", "cpu"]) == 0
    last = capsys.readouterr().out.splitlines()[-1].split()
    assert last == ["500", "600", "300", "120", "5.0x", "2.5x"]


def test_choices_changes_one_field_per_line(monkeypatch, data):
    """Each line trains the recipe with exactly the choice it names (the others
    off), and 'all of them' with every one named."""
    trained = []

    def record(model, train_ids, val_ids, recipe, target, seed_value):
        trained.append(recipe)
        return TrainHistory(
            elapsed=[0.5 + 0.01 * i for i in range(recipe.steps)], val_loss=[2.5]
        )

    monkeypatch.setattr(bench, "_train_recipe", record)
    text = data.read_text(encoding="utf-8")
    recipe = bench.Recipe(n_layer=1, n_head=2, n_embd=32)
    rows = bench.choices_table(text, torch.device("cpu"), recipe, 6, ["bf16", "tf32"])
    assert [r["choice"] for r in rows] == ["none", "+ bf16", "+ tf32", "all of them"]
    warm_up, none, bf16, tf32, both = trained
    assert warm_up.steps == 2 and none.steps == 6 and none.eval_interval == 6
    off = dict(precision="float32", tf32=False, fused=False, compile=False)
    assert all(getattr(none, k) == v for k, v in off.items())
    assert (bf16.precision, bf16.tf32) == ("bf16", False)
    assert (tf32.precision, tf32.tf32) == ("float32", True)
    assert (both.precision, both.tf32, both.fused) == ("bf16", True, False)
    # the median step of the second half, and tokens/s at that pace
    assert rows[0]["step_ms"] == pytest.approx(10.0)
    assert rows[0]["tokens_per_s"] == pytest.approx(24 * 64 / 0.01)
    assert rows[0]["first_step_s"] == 0.5 and rows[0]["val_loss"] == 2.5


def test_choices_trains_for_real(data, capsys):
    args = ["choices", "fused", "--steps", "3", "--data", str(data), *TINY]
    assert bench.main([*args, "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == [
        "choice",
        "first",
        "step",
        "s",
        "ms/step",
        "tokens/s",
        "val",
        "loss",
    ]
    rows = [line.split() for line in lines[3:]]
    assert [r[0] for r in rows] == ["none", "+"]  # no "all of them" for one choice
    for row in rows:
        *_, first, ms, tokens, loss = row
        assert 0 < float(first) and 0 < float(ms) and 0 < float(tokens)
        assert 3.0 < float(loss) < 5.0  # 3 steps from about ln(65) = 4.17


def test_the_gpu_recipe_is_nanogpts_with_its_speed_choices():
    gpu = bench.GPU_RECIPE
    assert (gpu.n_layer, gpu.n_head, gpu.n_embd, gpu.block_size) == (6, 6, 384, 256)
    assert (gpu.batch_size, gpu.steps, gpu.dropout, gpu.lr) == (64, 5000, 0.2, 1e-3)
    assert (gpu.precision, gpu.tf32, gpu.fused, gpu.compile) == (
        "bf16",
        True,
        True,
        True,
    )
    cpu = bench.Recipe()
    assert (cpu.precision, cpu.tf32, cpu.fused, cpu.compile) == (
        "float32",
        False,
        False,
        False,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "compile=maybe"], "expected true or false, got 'maybe'"),
        (["--set", "colour=red"], "--set takes FIELD=VALUE with a field of Recipe"),
        (["--set", "steps"], "--set takes FIELD=VALUE"),
        (["--threads", "0"], "--threads must be at least 1, got 0"),
        (["--steps", "1"], "--steps must be at least 2"),
        (["bf16", "flash"], "no speed choice flash; the choices are tf32, bf16, fused"),
    ],
)
def test_choices_says_what_is_wrong(data, capsys, args, message):
    assert bench.main(["choices", "--data", str(data), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_data_file_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert bench.main(["train-to-target", "--target", "2", "--data", str(missing)]) == 2
    assert f"--data {missing} is not a file" in capsys.readouterr().err
