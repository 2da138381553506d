"""Training: runs, resumes exactly, never reads the truth, refuses bad checkpoints/configs."""

from __future__ import annotations

import copy
import csv
import dataclasses
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
from unisst_lib.data.dataset import OccludedSequenceDataset, make_dataset
from unisst_lib.training.batches import StepBatches, ensure_data
from unisst_lib.training.checkpoints import load_checkpoint, load_generator, parameter_digest
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


def _occluded_sst(ds: OccludedSequenceDataset, i: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Item ``i``, its SST (°C, float64) and where it is occluded with a known truth."""
    item = ds[i]
    sst = np.asarray(ds.sequences[i].values, dtype=np.float64)
    occluded = item["mask"][0].numpy() > 0.5
    return item, sst, occluded & np.isfinite(sst)


def _mean_fill_rmse_by_hand(ds: OccludedSequenceDataset, n: int) -> float:
    """RMSE (°C) of each item's observed mean on its occluded pixels, items 0..n-1 pooled."""
    errors = []
    for i in range(n):
        item, sst, gap = _occluded_sst(ds, i)
        observed = sst[item["mask"][0].numpy() < 0.5]
        errors.append(observed.mean() - sst[gap])
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def _generator_rmse_by_hand(generator, ds: OccludedSequenceDataset, n: int) -> float:
    """RMSE (°C) of ``generator`` on the occluded pixels of items 0..n-1, pooled.

    Normalised values are ``(x - mean) / (std_factor * std)`` (the manifest's normalisation).
    """
    errors = []
    for i in range(n):
        item, sst, gap = _occluded_sst(ds, i)
        with torch.no_grad():
            out = generator(item["y"][None], item["mask"][None])[0, 0].double().numpy()
        out_c = float(item["mean"]) + ds.std_factor * float(item["std"]) * out
        errors.append(out_c[gap] - sst[gap])
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


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
    # best: the lowest holdout error so far
    holdout = [float(v["holdout_rmse_c"]) for v in val]
    assert [int(v["best"]) for v in val] == [1, int(holdout[1] < holdout[0])]
    # the truth-based errors, recomputed by hand on the validation items
    val_ds = make_dataset(
        "twin", "val", mode="eval", seed=tiny_cfg.seed, data_dir=tiny_cfg.data.data_dir
    )
    n = min(len(val_ds), tiny_cfg.data.val_sequences)
    for v in val:
        assert float(v["mean_fill_rmse_occluded_c"]) == pytest.approx(
            _mean_fill_rmse_by_hand(val_ds, n), rel=1e-6
        )
    generator, _ = load_generator(run / "checkpoints" / "latest.pt")
    assert float(val[-1]["rmse_occluded_c"]) == pytest.approx(
        _generator_rmse_by_hand(generator, val_ds, n), rel=1e-4
    )
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


class _Poison:
    """Garbage in place of the SST under each item's clouds, for as long as the item is made.

    The clouds of an item are learnt first (training items: drawn again from a copy of
    the step's generator); then the SST array itself is overwritten under them and the
    item is made again. Training items get uniform noise in 0-35 °C; validation items
    the truth plus ``val_offset_c(evaluation)`` °C, the evaluation counted by
    :meth:`on_eval`, so the truth-based errors of each evaluation differ at will.
    """

    def __init__(self, val_offset_c) -> None:
        self.val_offset_c = val_offset_c
        self.evaluation = 0
        self.pixels = {"train": 0, "eval": 0}
        self.noise = np.random.default_rng(7)
        self.real_sample = OccludedSequenceDataset.sample

    def on_eval(self, step: int, metrics: dict) -> None:
        self.evaluation += 1

    def sample(self, ds: OccludedSequenceDataset, i: int, rng=None) -> dict:
        replay = None
        if ds.mode == "train":
            assert rng is not None, "training items are drawn from the step's own generator"
            replay = np.random.default_rng()
            replay.bit_generator.state = copy.deepcopy(rng.bit_generator.state)
        probe = self.real_sample(ds, i, rng)  # this item's clouds (advances rng)
        seq = ds.sequences[probe["index"]].values  # a view of the preloaded SST
        clean = seq.copy()
        hidden = (probe["mask"][0].numpy() > 0.5) & np.isfinite(clean)
        if ds.mode == "train":
            seq[hidden] = self.noise.uniform(0.0, 35.0, int(hidden.sum()))
        else:
            seq[hidden] += self.val_offset_c(self.evaluation)
        if hidden.any():  # the SST array itself now holds the garbage
            assert not np.array_equal(ds.sequences[probe["index"]].values, clean)
        try:
            item = self.real_sample(ds, i, replay)  # the same clouds over garbage
        finally:
            seq[...] = clean
        if replay is not None:
            assert replay.bit_generator.state == rng.bit_generator.state
        assert torch.equal(item["mask"], probe["mask"])
        if "x" in item:  # the truth the item carries is the garbage
            assert not torch.equal(item["x"], probe["x"])
        self.pixels[ds.mode] += int(hidden.sum())
        return item

    def install(self, monkeypatch) -> None:
        monkeypatch.setattr(
            OccludedSequenceDataset, "sample", lambda ds, i, rng=None: self.sample(ds, i, rng)
        )


def _rows(path: Path, drop: tuple[str, ...] = ()) -> list[dict[str, str]]:
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _default_recipe(tiny_cfg):
    """tiny's networks and data with the default recipe (configs/fast.yaml): critics, the
    self-supervised term, the temporal first guess, the cosine schedule; 3 evaluations.

    The generator's rate is 10x fast's so that the validation error does not simply fall
    at every evaluation (at fast's rate it did): best.pt is a real choice among three.
    """
    fast = load_config("fast")
    assert fast.adversarial and fast.loss.self_supervised_weight > 0
    assert fast.loss.supervised_weight == 0
    return replace_config(
        tiny_cfg,
        generator={"first_guess": fast.generator.first_guess},
        loss=fast.loss,
        optim=dataclasses.replace(fast.optim, lr_g=10 * fast.optim.lr_g),
        steps=6,
        eval_every=2,
        batch_size=1,
    )


def test_neither_training_nor_model_selection_reads_the_truth(tiny_cfg, tmp_path, monkeypatch):
    """Garbage under the clouds of every training AND validation item, on the default recipe:
    the same losses, holdout errors, best.pt step and bit-identical parameters — while the
    truth-based errors change so much that a selection on them would pick another step."""
    cfg = _default_recipe(tiny_cfg)
    kw = dict(progress=False, tensorboard=False)
    clean = train(cfg, tmp_path / "clean", on_eval=lambda step, metrics: None, **kw)
    clean_val = _rows(tmp_path / "clean" / "val_log.csv")
    assert [int(r["step"]) for r in clean_val] == [2, 4, 6]
    truth_best = int(np.argmin([float(r["rmse_occluded_c"]) for r in clean_val]))
    # the poisoned truth looks best one evaluation later (offset 1 °C there, 3 °C elsewhere)
    target = (truth_best + 1) % len(clean_val)
    poison = _Poison(lambda evaluation: 1.0 if evaluation == target else 3.0)
    poison.install(monkeypatch)
    dirty = train(cfg, tmp_path / "dirty", on_eval=poison.on_eval, **kw)
    assert poison.evaluation == 3
    assert poison.pixels["train"] > 0 and poison.pixels["eval"] > 0

    # everything that steers training is identical ...
    drop = ("sequences_per_s",)  # wall clock
    assert _rows(tmp_path / "dirty/train_log.csv", drop) == _rows(
        tmp_path / "clean/train_log.csv", drop
    )
    dirty_val = _rows(tmp_path / "dirty" / "val_log.csv")
    steering = ("step", "holdout_rmse_c", "holdout_mae_c", "best")
    assert [{k: r[k] for k in steering} for r in dirty_val] == [
        {k: r[k] for k in steering} for r in clean_val
    ]
    assert dirty.best_holdout_rmse_c == clean.best_holdout_rmse_c
    assert dirty.generator_digest == clean.generator_digest
    for name in ("best.pt", "latest.pt"):
        a, b = (load_checkpoint(tmp_path / r / "checkpoints" / name) for r in ("clean", "dirty"))
        assert a["step"] == b["step"], name
        assert _digest_of(tmp_path / "clean/checkpoints" / name) == _digest_of(
            tmp_path / "dirty/checkpoints" / name
        )
    # ... while the truth-based errors differ and would have chosen another checkpoint
    clean_truth = [float(r["rmse_occluded_c"]) for r in clean_val]
    dirty_truth = [float(r["rmse_occluded_c"]) for r in dirty_val]
    assert all(d > c + 0.3 for c, d in zip(clean_truth, dirty_truth, strict=True))
    assert int(np.argmin(dirty_truth)) == target != truth_best


def test_the_poison_reaches_what_a_leak_would_read(tiny_cfg, tmp_path, monkeypatch):
    """The same poisoning changes an oracle (a run that reads the truth on purpose): the
    no-truth test above can fail."""
    cfg = replace_config(tiny_cfg, steps=2, eval_every=100, loss={"supervised_weight": 1.0})
    kw = dict(progress=False, tensorboard=False)
    a = train(cfg, tmp_path / "a", **kw)
    poison = _Poison(lambda evaluation: 2.0)
    poison.install(monkeypatch)
    b = train(cfg, tmp_path / "b", on_eval=poison.on_eval, **kw)
    assert poison.pixels["train"] > 0
    assert a.generator_digest != b.generator_digest


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
    for r in rows:  # the sequence-mean baseline, by hand on the same test items
        ds = make_dataset(
            "twin", "test", threshold_gm2=r["threshold_gm2"], mode="eval", data_dir=tiny_data_dir
        )
        want = _mean_fill_rmse_by_hand(ds, 2)
        assert r["mean_fill_rmse_occluded_c"] == pytest.approx(want, rel=1e-6)
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
