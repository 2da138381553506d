"""Training: runs, resumes exactly, never reads the truth, refuses bad checkpoints/configs."""

from __future__ import annotations

import copy
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unisst_lib.core.config import ConfigError
from unisst_lib.core.errors import CorruptFileError, DataNotFoundError
from unisst_lib.data.dataset import OccludedSequenceDataset
from unisst_lib.training.batches import StepBatches, ensure_data
from unisst_lib.training.checkpoints import load_checkpoint, parameter_digest
from unisst_lib.training.config import load_config, replace_config
from unisst_lib.training.loop import train
from unisst_lib.training.step import TrainingError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_cfg(tiny_data_dir):
    return load_config("tiny", data={"data_dir": str(tiny_data_dir)})


def _digest_of(path: Path) -> str:
    import hashlib

    state = load_checkpoint(path)
    h = hashlib.sha256()
    for part in ("generator", "image_d", "video_d"):
        for name, t in sorted(state["models"][part].items()):
            h.update(name.encode())
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_tiny_run_writes_logs_checkpoints_and_samples(tiny_cfg, tmp_path):
    res = train(tiny_cfg, tmp_path / "run", progress=False, tensorboard=False)
    run = tmp_path / "run"
    assert res.step == tiny_cfg.steps
    assert (run / "checkpoints" / "latest.pt").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "step_000002.png",
        "step_000004.png",
    ]
    with open(run / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss_d"])) for r in rows)
    with open(run / "val_log.csv") as f:
        val = list(csv.DictReader(f))
    assert [int(v["step"]) for v in val] == [2, 4]
    for v in val:
        for key in ("holdout_rmse_c", "rmse_occluded_c", "mean_fill_rmse_occluded_c"):
            assert 0 < float(v[key]) < 10  # °C
    # the paper decays both learning rates by 0.99 at every evaluation
    assert float(rows[-1]["lr_g"]) == pytest.approx(1e-4 * 0.99)
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and state["config"]["name"] == "tiny"


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tiny_cfg, tmp_path):
    full = train(tiny_cfg, tmp_path / "full", progress=False, tensorboard=False)
    part = train(tiny_cfg, tmp_path / "part", stop_at=2, progress=False, tensorboard=False)
    assert part.step == 2
    resumed = train(tiny_cfg, tmp_path / "part", progress=False, tensorboard=False)
    assert resumed.step == 4
    assert resumed.generator_digest == full.generator_digest
    assert _digest_of(tmp_path / "part/checkpoints/latest.pt") == _digest_of(
        tmp_path / "full/checkpoints/latest.pt"
    )
    with open(tmp_path / "part" / "train_log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]


def test_resume_is_exact_when_stopped_between_evaluations(tiny_cfg, tmp_path):
    """Stopping off the evaluation cadence (1, then 3, of 4 steps; evaluations at 2 and 4)
    must not decay the paper schedule an extra time: the resumed run ends where the
    uninterrupted one does."""
    assert tiny_cfg.optim.schedule == "paper" and tiny_cfg.eval_every == 2
    full = train(tiny_cfg, tmp_path / "full", progress=False, tensorboard=False)
    for stop in (1, 3, None):
        res = train(tiny_cfg, tmp_path / "part", stop_at=stop, progress=False, tensorboard=False)
    assert res.step == 4
    assert res.generator_digest == full.generator_digest
    part, whole = (
        load_checkpoint(tmp_path / d / "checkpoints/latest.pt") for d in ("part", "full")
    )
    assert (
        part["optim"]["generator"]["param_groups"][0]["lr"]
        == (whole["optim"]["generator"]["param_groups"][0]["lr"])
    )


def test_train_leaves_the_process_flags_and_rng_as_it_found_them(tiny_cfg, tmp_path):
    """cuDNN autotuning and the torch RNG are the run's own, even if changed mid-run."""
    cfg = replace_config(tiny_cfg, steps=1, eval_every=1)
    torch.manual_seed(1234)
    rng_before = torch.get_rng_state()
    benchmark_before = torch.backends.cudnn.benchmark
    seen_during = []

    def flip_the_flag(step, metrics):  # something inside the run changes the global flag
        seen_during.append(torch.backends.cudnn.benchmark)
        torch.backends.cudnn.benchmark = not benchmark_before

    try:
        train(cfg, tmp_path / "run", progress=False, tensorboard=False, on_eval=flip_the_flag)
        assert seen_during == [benchmark_before]  # a CPU run does not autotune cuDNN
        assert torch.backends.cudnn.benchmark == benchmark_before
        assert torch.equal(torch.get_rng_state(), rng_before)  # seeding was the run's own
    finally:
        torch.backends.cudnn.benchmark = benchmark_before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuDNN autotuning is CUDA-only")
def test_cuda_run_autotunes_cudnn_only_while_it_runs(tiny_cfg, tmp_path):
    cfg = replace_config(tiny_cfg, steps=1, eval_every=1, device="cuda")
    torch.backends.cudnn.benchmark = False
    seen_during = []
    train(
        cfg,
        tmp_path / "run",
        progress=False,
        tensorboard=False,
        on_eval=lambda step, metrics: seen_during.append(torch.backends.cudnn.benchmark),
    )
    assert seen_during == [True]
    assert torch.backends.cudnn.benchmark is False


def test_training_never_reads_the_truth_under_the_clouds(tiny_cfg, tmp_path, monkeypatch):
    """Garbage SST under the clouds of every training item: bit-identical parameters."""
    cfg = replace_config(tiny_cfg, steps=2, eval_every=100)
    real_sample = OccludedSequenceDataset.sample
    poisoned_pixels = []

    def garbage_under_clouds(self, i, rng=None):
        if rng is None:  # validation items (sample figures): not training data
            return real_sample(self, i)
        state = copy.deepcopy(rng.bit_generator.state)
        probe = real_sample(self, i, rng)  # learn this item's clouds (advances rng)
        replay = np.random.default_rng()
        replay.bit_generator.state = state
        seq = self.sequences[probe["index"]].values  # a view of the preloaded SST
        clean = seq.copy()
        hidden = probe["mask"][0].numpy() > 0.5
        seq[hidden] = 1e6  # what a leak would read: nonsense behind the clouds
        try:
            item = real_sample(self, i, replay)  # the same clouds, over poisoned truth
        finally:
            seq[...] = clean
        assert replay.bit_generator.state == rng.bit_generator.state
        poisoned_pixels.append(int(hidden.sum()))
        return item

    a = train(cfg, tmp_path / "a", progress=False, tensorboard=False)
    monkeypatch.setattr(OccludedSequenceDataset, "sample", garbage_under_clouds)
    b = train(cfg, tmp_path / "b", progress=False, tensorboard=False)
    assert sum(poisoned_pixels) > 0
    assert a.generator_digest == b.generator_digest
    assert _digest_of(tmp_path / "a/checkpoints/latest.pt") == _digest_of(
        tmp_path / "b/checkpoints/latest.pt"
    )


def test_prefetching_workers_do_not_change_the_run(tiny_cfg, tmp_path):
    cfg = replace_config(tiny_cfg, steps=2, eval_every=100)
    a = train(cfg, tmp_path / "a", progress=False, tensorboard=False)
    cfg2 = replace_config(cfg, data={"num_workers": 2})
    b = train(cfg2, tmp_path / "b", progress=False, tensorboard=False)
    assert a.generator_digest == b.generator_digest


def test_training_batches_hold_no_truth_and_are_a_function_of_the_step(tiny_cfg, tiny_data_dir):
    from unisst_lib.data.dataset import make_dataset

    ds = make_dataset("twin", "train", mode="train", include_truth=False, data_dir=tiny_data_dir)
    b1 = StepBatches(ds, tiny_cfg, rank=0).batch(5)
    b2 = StepBatches(ds, tiny_cfg, rank=0).batch(5)
    assert set(b1) == {"y", "mask", "reocclusion", "hide"}
    for k in b1:
        assert torch.equal(b1[k], b2[k])
    other = StepBatches(ds, tiny_cfg, rank=1).batch(5)
    assert not torch.equal(b1["mask"], other["mask"])
    # occluded pixels of the observation carry the fill value only
    assert torch.all(b1["y"][b1["mask"] > 0.5] == 1.0)


def test_augmentation_mirrors_observation_and_mask_together(tiny_cfg, tiny_data_dir):
    from unisst_lib.data.dataset import make_dataset

    ds = make_dataset("twin", "train", mode="train", include_truth=False, data_dir=tiny_data_dir)
    plain_cfg = replace_config(tiny_cfg, data={"augment": False})
    aug_cfg = replace_config(tiny_cfg, data={"augment": True})
    flips_seen = set()
    for it in range(12):
        # the first item of a batch is drawn identically; only its mirroring differs
        plain = StepBatches(ds, plain_cfg, rank=0).batch(it)
        aug = StepBatches(ds, aug_cfg, rank=0).batch(it)
        y0, m0 = plain["y"][0], plain["mask"][0]
        matches = [
            dims
            for dims in ([], [-2], [-1], [-2, -1])
            if torch.equal(aug["y"][0], y0.flip(dims) if dims else y0)
            and torch.equal(aug["mask"][0], m0.flip(dims) if dims else m0)
        ]
        assert matches, f"iteration {it}: the augmented sample is not a mirror of the real one"
        flips_seen.add(tuple(matches[0]))
    assert len(flips_seen) >= 3  # no flip, and flips along both axes, occur


def test_corrupt_and_foreign_checkpoints_are_refused(tiny_cfg, tmp_path):
    run = tmp_path / "run"
    train(replace_config(tiny_cfg, steps=2), run, progress=False, tensorboard=False)
    latest = run / "checkpoints" / "latest.pt"
    other = replace_config(tiny_cfg, generator={"base_channels": 16})
    with pytest.raises(ConfigError, match="another generator"):
        train(other, run, progress=False, tensorboard=False)
    blob = latest.read_bytes()
    latest.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CorruptFileError, match="truncated or not a unisst checkpoint"):
        train(tiny_cfg, run, progress=False, tensorboard=False)
    with pytest.raises(DataNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")


def test_divergence_stops_with_a_clear_message(tiny_cfg, tmp_path, monkeypatch):
    import unisst_lib.training.step as step_module

    monkeypatch.setattr(step_module, "g_hinge_loss", lambda s: s.mean() * float("nan"))
    cfg = replace_config(tiny_cfg, steps=3, eval_every=100)
    with pytest.raises(TrainingError, match="generator loss became nan at step 0"):
        train(cfg, tmp_path / "nan", progress=False, tensorboard=False)


def test_collapse_stops_with_a_clear_message(tiny_cfg, tmp_path, monkeypatch):
    import unisst_lib.training.step as step_module

    monkeypatch.setattr(step_module, "d_hinge_loss", lambda r, f: (r.mean() + f.mean()) * 0)
    cfg = replace_config(tiny_cfg, steps=3, eval_every=100, collapse_patience=3)
    with pytest.raises(TrainingError, match="critics' loss has been ~0 for 3 updates"):
        train(cfg, tmp_path / "collapse", progress=False, tensorboard=False)


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noptim:\n  lr_gg: 0.1\n")
    with pytest.raises(ConfigError, match="optim.lr_gg"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no config named 'fats'"):
        load_config("fats")
    with pytest.raises(ConfigError, match="data.twin_size"):
        load_config("tiny", data={"twin_size": "huge"})
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        load_config("tiny", steps=0)


def test_shipped_configs_load():
    assert load_config("paper").generator.arch == "paper"
    assert load_config("paper").optim.beta1 == 0.0
    assert load_config("fast").generator.arch == "fast"
    assert load_config("tiny").data.twin_size == "tiny"


def test_missing_real_data_names_the_download_command(tmp_path):
    from unisst_lib.core.manifest import load_manifest

    cfg = load_config("fast", data={"split_set": "anfc", "data_dir": str(tmp_path)})
    with pytest.raises(DataNotFoundError, match="unisst download sst"):
        ensure_data(cfg.data, load_manifest())


def test_missing_twin_is_generated(tmp_path, tiny_data_dir):
    cfg = load_config("tiny", data={"data_dir": str(tmp_path / "fresh")})
    from unisst_lib.core.manifest import load_manifest

    root = ensure_data(cfg.data, load_manifest())
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert names == sorted(
        str(p.relative_to(tiny_data_dir)) for p in tiny_data_dir.rglob("*") if p.is_file()
    )


def test_cli_train_and_ddp_on_two_cpu_processes(tiny_data_dir, tmp_path):
    """`unisst train` under torchrun with 2 gloo processes ends with identical replicas."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNISST_DATA_DIR": str(tiny_data_dir)}
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun ships with torch"
    cmd = [
        torchrun, "--standalone", "--nproc_per_node=2", "-m", "unisst_lib.cli", "train",
        "--config", "tiny", "--out", str(tmp_path / "ddp"), "--steps", "2",
        "--data-dir", str(tiny_data_dir), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "all 2 processes hold identical generator parameters" in proc.stderr
    assert (tmp_path / "ddp" / "checkpoints" / "latest.pt").is_file()


def test_parameter_digest_changes_with_parameters():
    lin = torch.nn.Linear(2, 2)
    d = parameter_digest(lin)
    with torch.no_grad():
        lin.weight[0, 0] += 1
    assert parameter_digest(lin) != d


def test_evaluate_checkpoint_per_threshold(tiny_cfg, tmp_path, tiny_data_dir, capsys):
    from unisst_lib.cli import main
    from unisst_lib.evaluation.validation import evaluate_thresholds
    from unisst_lib.training.checkpoints import load_generator

    run = tmp_path / "run"
    train(replace_config(tiny_cfg, steps=2), run, progress=False, tensorboard=False)
    generator, cfg = load_generator(run / "checkpoints" / "best.pt")
    assert cfg.name == "tiny" and not generator.training
    rows = evaluate_thresholds(
        generator, thresholds_gm2=(55, 80), max_items=2, data_dir=tiny_data_dir
    )
    assert [r["threshold_gm2"] for r in rows] == [55.0, 80.0]
    # a higher LWP threshold hides fewer pixels
    assert rows[0]["occlusion_rate"] > rows[1]["occlusion_rate"]
    assert all(0 < r["rmse_occluded_c"] < 10 for r in rows)
    code = main(
        ["evaluate", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--thresholds",
         "70", "--max-items", "2", "--data-dir", str(tiny_data_dir), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    assert "mean fill RMSE" in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["evaluate", "--checkpoint", str(tmp_path / "junk.pt")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read checkpoint")


def test_export_generator_keeps_the_generator_and_drops_the_rest(tmp_path, tiny_data_dir):
    import torch

    from unisst_lib.training.checkpoints import export_generator, load_checkpoint, load_generator
    from unisst_lib.training.config import load_config
    from unisst_lib.training.loop import train

    cfg = load_config(
        "tiny", steps=1, eval_every=1, log_every=1, data={"data_dir": str(tiny_data_dir)}
    )
    train(cfg, tmp_path / "run", progress=False, tensorboard=False)
    src = tmp_path / "run" / "checkpoints" / "best.pt"
    out = export_generator(src, tmp_path / "slim.pt")
    slim = load_checkpoint(out)
    assert set(slim["models"]) == {"generator"} and "optim" not in slim
    assert out.stat().st_size < src.stat().st_size
    g_full, _ = load_generator(src)
    g_slim, cfg_slim = load_generator(out)
    assert cfg_slim == cfg
    y = torch.rand(1, 1, 4, 16, 16)
    m = (torch.rand(1, 1, 4, 16, 16) > 0.5).float()
    assert torch.equal(g_full(y, m), g_slim(y, m))


def test_the_bundled_checkpoint_loads():
    from pathlib import Path

    import unisst_lib
    from unisst_lib.training.checkpoints import load_generator

    path = Path(unisst_lib.__file__).parent / "checkpoints" / "fast_twin.pt"
    generator, cfg = load_generator(path)
    assert cfg.name == "fast" and cfg.generator.first_guess == "temporal"
    assert sum(p.numel() for p in generator.parameters()) > 1_000_000
