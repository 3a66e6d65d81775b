"""tinytx.train under torchrun: two CPU processes (gloo) train like one process does.

Two ranks with batch_size=B see the global batch that one process with batch_size=2B
draws, and DDP averages their gradients, so the weights after training are those of
the one process up to float rounding. The torchrun launch is shared by the tests
(tests/torchrun_train.py, about 8 seconds on 2 cores); the rest runs in this process.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import tinytx
from tinytx import distributed
from tinytx.checkpoint import load_metadata
from tinytx.distributed import World

SCRIPT = Path(__file__).with_name("torchrun_train.py")
CONFIG = dict(vocab_size=16, block_size=16, n_layer=2, n_head=2, n_embd=32)
B = 4  # windows per rank and step; one process needs 2 * B for the same batches
RUNS = [
    # grad_clip=0.5 clips every step (the gradient norm goes from 1.07 to 0.77)
    dict(grad_clip=0.5, grad_norm_every=1, eval_interval=2, checkpoint="model.pt"),
    dict(optimizer="muon", fused=True),
    dict(precision="bf16", progress=False),
    # Ctrl-C in rank 1 only, during step 2; no evaluation before the end
    dict(eval_interval=100, progress=False, ctrl_c=dict(rank=1, forward=3)),
]
LAUNCH = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def one_thread():
    """One thread, as each rank has: the tiny products gain nothing from a second,
    which on a busy 2-core machine mostly waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def corpus():
    ids = torch.randint(0, 16, (3000,), generator=torch.Generator().manual_seed(0))
    return ids[:2500], ids[2500:]


def train_alone(batch_size, options):
    """One process: the GPT rank 0 starts from, trained on batch_size windows."""
    torch.manual_seed(0)
    model = tinytx.GPT(tinytx.GPTConfig(**CONFIG))
    options = {k: v for k, v in options.items() if k not in ("checkpoint", "progress")}
    history = tinytx.train(
        model, *corpus(), steps=5, batch_size=batch_size, progress=False, **options
    )
    return model.state_dict(), history


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory):
    """Launch the script on two ranks; its output folder, each rank's runs and the
    launcher's own output."""
    out = tmp_path_factory.mktemp("torchrun")
    runs = [dict(steps=5, batch_size=B, **options) for options in RUNS]
    train_ids, val_ids = corpus()
    setup = dict(config=CONFIG, train_ids=train_ids, val_ids=val_ids, runs=runs)
    torch.save(setup, out / "setup.pt")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH}
    root = str(Path(__file__).resolve().parents[1])
    env |= {
        "OMP_NUM_THREADS": "1",  # two processes on two cores
        "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(SCRIPT), str(out)]
    launched = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300
    )
    logs = {
        rank: path.read_text()
        for rank in (0, 1)
        if (path := out / f"rank{rank}.log").exists()
    }
    assert launched.returncode == 0, (launched.stdout, launched.stderr, logs)
    results = [
        [torch.load(out / f"rank{rank}-run{i}.pt") for rank in (0, 1)]
        for i in range(len(RUNS))
    ]
    return out, results, logs, launched


def test_two_ranks_train_the_weights_of_one_process_with_twice_the_batch(torchrun):
    _, results, _, _ = torchrun
    rank0, rank1 = results[0]
    weights, history = train_alone(2 * B, RUNS[0])
    # rank 1 began from other weights (seed 1): DDP gave it rank 0's, then equal steps
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), name
        torch.testing.assert_close(tensor, weights[name])
    # the ranks' histories are one history, but for the time each took
    histories = [dict(r["history"]) for r in (rank0, rank1)]
    times = [h.pop("elapsed") for h in histories]
    assert histories[0] == histories[1]
    assert [len(t) for t in times] == [5, 5] and all(t == sorted(t) for t in times)
    assert rank0["history"]["val_steps"] == history.val_steps == [2, 4, 5]
    assert rank0["history"]["val_loss"] == pytest.approx(history.val_loss, rel=1e-6)
    assert rank0["history"]["train_loss"] == pytest.approx(history.train_loss, rel=1e-6)
    # the gradients that were clipped and recorded were the global batch's
    for name, norms in history.grad_norms.items():
        assert rank0["history"]["grad_norms"][name] == pytest.approx(
            norms, rel=1e-4, abs=1e-8
        )
    totals = [math.hypot(*step) for step in zip(*history.grad_norms.values())]
    assert min(totals) > RUNS[0]["grad_clip"]  # so the clipping acted at every step


def test_the_tolerance_tells_apart_a_process_with_half_the_batch(torchrun):
    _, results, _, _ = torchrun
    rank0 = results[0][0]
    weights, history = train_alone(B, RUNS[0])
    differences = [(rank0["weights"][k] - w).abs().max() for k, w in weights.items()]
    assert max(differences) > 1e-3  # 100 times assert_close's atol of 1e-5
    with pytest.raises(AssertionError, match="not close"):
        torch.testing.assert_close(rank0["weights"], weights)
    assert rank0["history"]["val_loss"] != pytest.approx(history.val_loss, rel=1e-6)


def test_muon_and_fused_adamw_under_ddp(torchrun):
    _, results, _, _ = torchrun
    rank0, rank1 = results[1]
    weights, history = train_alone(2 * B, RUNS[1])
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), name
        torch.testing.assert_close(tensor, weights[name])
    assert rank0["history"]["val_loss"] == pytest.approx(history.val_loss, rel=1e-6)


def test_bf16_autocast_under_ddp(torchrun):
    """bfloat16 rounds each rank's half-batch products differently from one process's
    whole batch, and Adam's first steps magnify the sign of tiny gradients, so the
    weights agree only loosely; the validation losses still agree to 1e-4 (a process
    with half the batch is 4e-3 away)."""
    _, results, _, _ = torchrun
    rank0, rank1 = results[2]
    _, history = train_alone(2 * B, RUNS[2])
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), name
    assert rank0["history"]["val_loss"] == pytest.approx(history.val_loss, abs=1e-4)


def test_ctrl_c_in_one_rank_stops_every_rank_after_the_same_step(torchrun):
    _, results, _, _ = torchrun
    rank0, rank1 = results[3]
    for history in (rank0["history"], rank1["history"]):
        assert history["interrupted"] and history["steps"] == [0, 1, 2]
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), name


def test_only_rank_0_prints_and_no_rank_warns(torchrun):
    _, _, logs, launched = torchrun
    assert logs[1] == ""  # nothing at all, also at exit
    lines = [line for line in logs[0].replace("\r", "\n").splitlines() if line]
    assert lines and all(line.startswith("training: ") for line in lines), logs[0]
    assert sum("training: 100%" in line for line in lines) >= 2  # runs 0 and 1
    assert launched.stdout == launched.stderr == ""


def test_rank_0_saves_the_checkpoint_and_rank_1_writes_nothing(torchrun):
    out, results, _, _ = torchrun
    rank0 = results[0][0]
    assert list((out / "rank1").iterdir()) == []
    assert [path.name for path in (out / "rank0").iterdir()] == ["model.pt"]
    model = tinytx.load(out / "rank0" / "model.pt")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, rank0["weights"][name]), name
    metadata = load_metadata(out / "rank0" / "model.pt")
    assert metadata == {"step": 5, "val_loss": rank0["history"]["val_loss"][-1]}


def test_the_ranks_shards_make_up_the_global_batch():
    batch = torch.arange(24).view(6, 4)  # (world_size * B, T) with B = 2
    worlds = [World(torch.device("cpu"), rank, world_size=3) for rank in (0, 1, 2)]
    shards = [distributed.shard(batch, world) for world in worlds]
    assert [len(s) for s in shards] == [2, 2, 2]
    assert torch.equal(torch.cat(shards), batch)


def test_alone_train_starts_no_process_group():
    train_alone(B, {})
    assert not dist.is_initialized()
    assert distributed.is_main()


@pytest.fixture
def group_of_one():
    """A process group the caller made (one rank, in memory), destroyed after."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_a_group_the_caller_made_is_left_alone(group_of_one):
    train_alone(B, {})
    assert dist.is_initialized()


def test_a_model_already_in_ddp_is_refused(group_of_one):
    model = DistributedDataParallel(tinytx.GPT(tinytx.GPTConfig(**CONFIG)))
    with pytest.raises(TypeError, match=r"pass the model itself \(model.module\)"):
        tinytx.train(model, *corpus(), steps=1, batch_size=2, progress=False)


TORCHRUN_ENV = dict(
    RANK="0", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="localhost", MASTER_PORT="1"
)


def launched_with(env, monkeypatch):
    """Make os.environ hold `env`'s launch variables and no others."""
    for name in LAUNCH:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "env, message",
    [
        (
            dict(WORLD_SIZE="2"),
            "torch.distributed's environment is incomplete: WORLD_SIZE=2 but RANK, "
            "LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set; start the script with "
            "torchrun",
        ),
        (
            {k: v for k, v in TORCHRUN_ENV.items() if k != "RANK"},
            "WORLD_SIZE=2, LOCAL_RANK=0 but RANK is not set",
        ),
        (TORCHRUN_ENV | dict(RANK="2"), "RANK=2 with WORLD_SIZE=2: ranks run from 0"),
        (TORCHRUN_ENV | dict(WORLD_SIZE="two"), "WORLD_SIZE='two' is not a whole"),
    ],
)
def test_a_broken_launch_environment_is_named(env, message, monkeypatch):
    launched_with(env, monkeypatch)
    with pytest.raises(ValueError, match=message):
        train_alone(B, {})
    assert not dist.is_initialized()


def test_more_processes_than_gpus_is_refused(monkeypatch):
    launched_with(TORCHRUN_ENV | dict(LOCAL_WORLD_SIZE="2"), monkeypatch)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(
        RuntimeError,
        match=r"2 processes train on this machine but PyTorch sees 1 CUDA device\(s\)"
        r", and each process needs its own; start at most 1 "
        r"\(torchrun --nproc_per_node 1\)",
    ):
        distributed.setup(torch.device("cuda"))


def test_a_model_on_mps_cannot_join(monkeypatch):
    launched_with(TORCHRUN_ENV, monkeypatch)
    with pytest.raises(ValueError, match=r"needs CPUs \(gloo\) or CUDA GPUs \(NCCL\)"):
        distributed.setup(torch.device("mps"))


def test_shard_refuses_a_batch_that_does_not_split_evenly():
    with pytest.raises(ValueError, match="7 rows does not split into 2 equal shards"):
        distributed.shard(torch.zeros(7, 3), World(torch.device("cpu"), 1, 2))


def test_the_costs_of_chapter_12():
    """The ring's traffic, FSDP's 1.5 times it, and ZeRO's Figure 1 (7.5B parameters
    on 64 GPUs, mixed precision: 120, 31.4, 16.6 and 1.9 GB per GPU)."""
    assert distributed.allreduce_bytes(1000, 4, 2) == 3000  # 2 * 3/4 * 2000 bytes
    assert distributed.allreduce_bytes(1000, 1, 4) == 0
    assert distributed.step_traffic(1000, 4, 2, stage=2) == 3000
    assert distributed.step_traffic(1000, 4, 2, stage=3) == 4500
    per_gpu = [
        sum(distributed.training_memory(7_500_000_000, 64, stage, "bf16").values())
        for stage in range(4)
    ]
    assert [round(b / 1e9, 1) for b in per_gpu] == [120.0, 31.4, 16.6, 1.9]
    assert distributed.training_memory(10, precision="fp32") == {
        "weights": 40,
        "gradients": 40,
        "optimizer": 80,
    }
    with pytest.raises(ValueError, match="stage must be 0, 1, 2 or 3"):
        distributed.training_memory(10, 2, stage=4)
    with pytest.raises(ValueError, match="precision must be one of"):
        distributed.training_memory(10, precision="fp8")
    with pytest.raises(ValueError, match="world_size must be at least 1"):
        distributed.allreduce_bytes(10, 0, 4)
