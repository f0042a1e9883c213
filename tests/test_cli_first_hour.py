"""The command line as a new user meets it (issue 13 items 2-9 and 11, issue 18 item 6): help
instead of a surprise demo, no run overwritten by accident, a failed resume that damages nothing,
one-line errors with a non-zero exit and nothing half-written, captions the model cannot use,
one log line per epoch as it ends, and quick-mode numbers labelled as a smoke test."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from checkpoint_crafting import npy_header, read_members, write_zip

import minimm.io as mio
from minimm.app import cli
from minimm.app.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK_CVAE = ["train", "cvae", "--dataset", "shapes", "--quick", "--batch-size", "256"]


def _one_error_line(capsys, *words) -> str:
    """The command's stderr is exactly one ``minimm: error:`` line holding ``words``."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("minimm: error: "), err
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run(*argv, env_extra=None, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIMM_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "minimm", *argv], capture_output=True, text=True, env=env,
                          timeout=300, **kw)


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    """A one-epoch caption → image CVAE run on shapes (checkpoint.npz, config.json, history.json)."""
    out = tmp_path_factory.mktemp("cvae") / "run"
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(out)]) == 0
    return out


# -- item 2: `pip install .` then `minimm demo` -------------------------------------------------------
def test_the_demo_needs_only_core_dependencies():
    """`pip install .` must bring what `minimm demo` imports (the Trainer imports tqdm, the figures
    matplotlib); an optional extra is only needed for optional features."""
    import re

    line = re.search(r"^dependencies = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    names = {re.match(r"\s*\"([A-Za-z0-9_.-]+)", d).group(1).lower() for d in line.split(",")}
    assert {"numpy", "matplotlib", "tqdm"} <= names


def test_a_missing_optional_package_names_its_extra_in_one_line(tmp_path):
    """`train --dataset digits` without scikit-learn: one line naming `pip install minimm[data]`."""
    code = ("import sys; sys.modules['sklearn'] = None; sys.modules['sklearn.datasets'] = None\n"
            "from minimm.app.cli import main\n"
            f"sys.exit(main(['train', 'cvae', '--dataset', 'digits', '--quick', '--out', {str(tmp_path / 'd')!r}]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 1, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minimm: error:") and "pip install minimm[data]" in err[0], err
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "d" / "checkpoint.npz").exists()


# -- item 3: a run is never overwritten by accident ----------------------------------------------------
def test_train_refuses_to_overwrite_a_run_without_overwrite(cvae_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in _snapshot(cvae_run).items():
        (run / name).write_bytes(data)
    before = _snapshot(run)
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(run)]) == 1
    _one_error_line(capsys, "already holds a cvae model", "--resume", "--overwrite")
    assert _snapshot(run) == before
    # the explicit request replaces it
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(run), "--overwrite", "--seed", "3"]) == 0
    assert json.loads((run / "config.json").read_text())["seed"] == 3
    with pytest.raises(SystemExit) as exc:  # --resume and --overwrite contradict each other
        main(QUICK_CVAE + ["--out", str(run), "--overwrite", "--resume"])
    assert exc.value.code == 2


# -- item 4: a failed resume damages nothing -----------------------------------------------------------
@pytest.mark.parametrize("argv,words", [
    (["train", "caption", "--dataset", "shapes", "--quick"], ("holds a cvae model", "not caption on shapes")),
    (QUICK_CVAE + ["--seed", "5"], ("--seed 0 there, 5 here",)),
    (["train", "cvae", "--dataset", "shapes", "--batch-size", "256"], ("--quick True there, False here",)),
])
def test_a_refused_resume_leaves_the_folder_untouched(cvae_run, argv, words, capsys):
    before = _snapshot(cvae_run)
    assert main(argv + ["--epochs", "3", "--out", str(cvae_run), "--resume"]) == 1
    _one_error_line(capsys, "cannot resume", *words)
    assert _snapshot(cvae_run) == before
    # and the folder's CVAE is still usable
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a large bright circle at the top left",
                 "--out", str(cvae_run.parent / "still.png")]) == 0


def test_a_resume_whose_checkpoint_does_not_fit_writes_nothing(cvae_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in _snapshot(cvae_run).items():
        (run / name).write_bytes(data)
    cfg = json.loads((run / "config.json").read_text())
    cfg["args"]["hidden"] = 32  # the saved weights are 256 wide
    (run / "config.json").write_text(json.dumps(cfg))
    before = _snapshot(run)
    assert main(QUICK_CVAE + ["--epochs", "2", "--out", str(run), "--resume"]) == 1
    _one_error_line(capsys, "cannot resume")
    assert _snapshot(run) == before


# -- items 5 (and 18.6): one line, a non-zero exit, nothing half-written ------------------------------------
def test_unwritable_out_is_one_line(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", "/proc/nope"]) == 1
    _one_error_line(capsys, "cannot write '/proc/nope'")
    afile = tmp_path / "a-file"
    afile.write_text("keep me")
    for argv in (["demo", "--quick"], ["train", "cvae", "--quick"], ["evaluate", "--quick"]):
        assert main(argv + ["--out", str(afile)]) == 1
        _one_error_line(capsys, "is a file, not a folder")
    assert afile.read_text() == "keep me"
    loop = tmp_path / "loop"
    os.symlink(loop, loop)  # a link to itself
    assert main(["train", "cvae", "--quick", "--out", str(loop)]) == 1
    _one_error_line(capsys, "symbolic link")


def test_bad_seed_is_one_line(capsys):
    assert main(["demo", "--seed", "-1"]) == 1
    _one_error_line(capsys, "--seed must be between 0 and")
    assert main(["train", "cvae", "--seed", str(2**40)]) == 1
    _one_error_line(capsys, "--seed")


def test_a_bad_thread_setting_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("MINIMM_NUM_THREADS", "many")
    assert main(["info"]) == 0  # info trains nothing and needs no setting
    assert main(["demo", "--quick", "--out", "unused"]) == 1
    _one_error_line(capsys, "MINIMM_NUM_THREADS='many'", "non-negative integer")


def test_generate_out_without_extension_or_a_folder(cvae_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a large bright circle", "--out", "noext"]) == 1
    _one_error_line(capsys, "'noext'", "extension", "noext.png")
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a large bright circle", "--out", "x.bogus"]) == 1
    _one_error_line(capsys, "extension", "png")
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a large bright circle", "--out", "."]) == 1
    _one_error_line(capsys, "is a folder")
    assert sorted(os.listdir(tmp_path)) == []


def test_corrupt_json_of_a_folder_is_one_line(cvae_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in _snapshot(cvae_run).items():
        (run / name).write_bytes(data)
    (run / "config.json").write_text('{"class": "CVAE", "kind": ')
    before = _snapshot(run)
    assert main(["generate", "--checkpoint", str(run), "--text", "a circle", "--out", str(tmp_path / "x.png")]) == 1
    _one_error_line(capsys, "config.json", "damaged")
    assert main(QUICK_CVAE + ["--epochs", "2", "--out", str(run), "--resume"]) == 1
    _one_error_line(capsys, "config.json", "damaged")
    assert _snapshot(run) == before
    (run / "config.json").write_text('{"kind": "cvae"}')  # valid JSON, fields missing
    assert main(["generate", "--checkpoint", str(run), "--text", "a circle", "--out", str(tmp_path / "x.png")]) == 1
    _one_error_line(capsys, "config.json", "damaged")
    pipe = tmp_path / "pipeline"
    pipe.mkdir()
    (pipe / "pipeline.json").write_text("{not json")
    (pipe / "weights.npz").write_bytes(b"")
    assert main(["generate", "--checkpoint", str(pipe), "--text", "a circle", "--out", str(tmp_path / "x.png")]) == 1
    _one_error_line(capsys, "pipeline.json", "damaged")
    assert not (tmp_path / "x.png").exists()


def test_a_full_disk_during_training_is_one_line(tmp_path, capsys, monkeypatch):
    def full(path, *a, **kw):
        raise mio.CheckpointWriteError(str(path), OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(mio, "save_training_checkpoint", full)
    run = tmp_path / "run"
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(run)]) == 1
    _one_error_line(capsys, f"cannot write '{run / 'checkpoint.npz'}': no space left on device")
    assert not (run / "checkpoint.npz").exists()


def test_an_os_error_outside_the_checkpoint_io_is_one_line(tmp_path, capsys):
    """The Trainer's own history.json write is not a checkpoint write: still one line, no traceback."""
    run = tmp_path / "run"
    (run / "history.json" / "keep").mkdir(parents=True)  # a folder where the Trainer writes a file
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(run)]) == 1
    _one_error_line(capsys, "cannot write", "history.json", "folder")
    assert (run / "history.json" / "keep").is_dir()


def test_a_read_only_place_is_one_line(tmp_path, capsys, monkeypatch):
    def read_only(path, *a, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(cli.os, "makedirs", read_only)
    assert main(["train", "cvae", "--quick", "--out", str(tmp_path / "ro")]) == 1
    _one_error_line(capsys, "cannot write", "read-only file system")


def test_a_folder_in_place_of_the_checkpoint_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoint.npz").mkdir(parents=True)
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(run), "--overwrite"]) == 1
    _one_error_line(capsys, "checkpoint.npz", "is a folder, not a file")


def _fake_pipeline(monkeypatch, write_figures):
    """A demo whose training and evaluation are skipped (their own tests cover them)."""
    from minimm.app.pipeline import MultimodalPipeline

    monkeypatch.setattr(MultimodalPipeline, "fit", lambda self, **kw: self)
    monkeypatch.setattr(MultimodalPipeline, "evaluate", lambda self: {"caption_to_image_coherence": 0.25})
    monkeypatch.setattr(MultimodalPipeline, "write_figures", write_figures)
    monkeypatch.setattr(MultimodalPipeline, "save", lambda self, path: os.makedirs(path))


def test_a_failing_figure_write_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    def half_then_full(self, out_dir):
        with open(os.path.join(out_dir, "loss_curves.png"), "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(out_dir, "caption_to_image.png"))

    _fake_pipeline(monkeypatch, half_then_full)
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 1
    _one_error_line(capsys, f"cannot write '{out / 'caption_to_image.png'}': no space left on device")
    assert os.listdir(out) == []  # no half figure, no temporary folder


def test_a_second_demo_into_the_same_folder_replaces_its_files(tmp_path, capsys, monkeypatch):
    def figures(self, out_dir):
        path = os.path.join(out_dir, "loss_curves.png")
        with open(path, "wb") as f:
            f.write(b"\x89PNG whole")
        return [path]

    _fake_pipeline(monkeypatch, figures)
    out = tmp_path / "demo"
    for _ in range(2):
        assert main(["demo", "--quick", "--out", str(out)]) == 0
        assert sorted(os.listdir(out)) == ["loss_curves.png", "metrics.json", "pipeline", "sound", "sound.png",
                                           "sound_1.wav", "sound_2.wav", "sound_3.wav"]
    assert f"wrote {out / 'loss_curves.png'}" in capsys.readouterr().out


# -- item 6: captions the model cannot use -------------------------------------------------------------
@pytest.mark.parametrize("text,words", [("a purple elephant flying", ("understands none", "purple")),
                                        ("", ("--text is empty",)), ("   ", ("--text is empty",))])
def test_generate_refuses_a_caption_it_cannot_use(cvae_run, tmp_path, text, words, capsys):
    png = tmp_path / "x.png"
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", text, "--out", str(png)]) == 1
    _one_error_line(capsys, *words)
    assert not png.exists()


def test_generate_warns_about_the_parts_it_did_not_understand(cvae_run, tmp_path, capsys):
    png = tmp_path / "x.png"
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a large purple circle", "--out", str(png)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minimm: warning:")
    for w in ("shape circle", "size large", "position", "intensity", "purple"):
        assert w in err[0], w
    assert png.is_file()
    # a caption naming all four attributes in known words: no warning
    assert main(["generate", "--checkpoint", str(cvae_run), "--text", "a small dim square at the bottom right",
                 "--out", str(png)]) == 0
    assert capsys.readouterr().err == ""


# -- item 7: one log line per epoch as it ends ---------------------------------------------------------
def test_epoch_lines_reach_a_log_file_during_the_run_and_after_ctrl_c(tmp_path):
    log = tmp_path / "train.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIMM_NUM_THREADS="1")
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "minimm", *QUICK_CVAE, "--epochs", "500", "--out",
                                 str(tmp_path / "run")], stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 240
            while "epoch   2" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no epoch line in the log while training"
                time.sleep(0.1)
            assert proc.poll() is None  # seen while training was still running
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert rc == 130, text
    assert "epoch   1" in text and "interrupted: checkpoint saved" in text and "Traceback" not in text


def test_resuming_a_finished_run_says_nothing_was_trained(cvae_run, capsys):
    before = _snapshot(cvae_run)
    assert main(QUICK_CVAE + ["--epochs", "1", "--out", str(cvae_run), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "nothing to train" in out and "1 of 1 epochs" in out
    assert "epoch   1" not in out  # no reprinted history
    assert _snapshot(cvae_run) == before


def test_a_resume_prints_only_the_new_epochs(cvae_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in _snapshot(cvae_run).items():
        (run / name).write_bytes(data)
    assert main(QUICK_CVAE + ["--epochs", "2", "--out", str(run), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "epoch   2" in out and "epoch   1" not in out and "(1 epoch trained)" in out


# -- item 8: help, --version, every option's default ---------------------------------------------------
def test_version_and_help_of_every_subcommand(capsys):
    import minimm

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"minimm {minimm.__version__}"
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) == {"demo", "train", "evaluate", "generate", "caption", "info"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.dest)
            if action.option_strings:  # every option says its default (or that it is required)
                assert "default" in action.help or action.required, (name, action.dest, action.help)
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert capsys.readouterr().out.startswith(f"usage: minimm {name}")
    train = subparsers["train"]
    model = next(a for a in train._actions if a.dest == "model")
    for kind in ("cvae", "mvae", "cgan", "caption", "align"):
        assert f"{kind}:" in model.help
    only = next(a for a in subparsers["evaluate"]._actions if a.dest == "only")
    for recipe in cli.RECIPES:
        assert recipe in only.help


# -- item 9: quick numbers come with a warning ---------------------------------------------------------
def test_quick_numbers_are_labelled_a_smoke_test(tmp_path, capsys, monkeypatch):
    _fake_pipeline(monkeypatch, lambda self, out_dir: [])
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "25.0 %" in out and "smoke test" in out.split("25.0 %")[1]
    assert main(["demo", "--out", str(tmp_path / "d2")]) == 0
    assert "smoke test" not in capsys.readouterr().out
    monkeypatch.setattr(cli, "evaluate_all", lambda **kw: [])
    monkeypatch.setattr(cli, "format_table", lambda entries: "| the table |")
    assert main(["evaluate", "--quick", "--out", str(tmp_path / "e")]) == 0
    assert "smoke test" in capsys.readouterr().out.split("| the table |")[1]


# -- item 11: a corrupt weights file --------------------------------------------------------------------
def test_pickled_weights_are_refused_without_allow_pickle_advice(cvae_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name, data in _snapshot(cvae_run).items():
        (run / name).write_bytes(data)
    members = read_members(cvae_run / "checkpoint.npz")
    name = next(n for n in members if n.startswith("model/"))
    members[name] = npy_header("|O", (2,)) + pickle.dumps(np.empty(2, dtype=object))
    write_zip(run / "checkpoint.npz", members)
    assert main(["generate", "--checkpoint", str(run), "--text", "a circle", "--out", str(tmp_path / "x.png")]) == 1
    line = _one_error_line(capsys, "checkpoint.npz")
    assert "allow_pickle" not in line


# -- issue 16's CLI path ---------------------------------------------------------------------------------
def test_distributed_train_under_mpiexec(tmp_path, capsys):
    """`mpiexec -n 2 minimm train cvae --dataset shapes --out DIR --distributed`: both ranks train,
    rank 0 alone prints and writes. A Trainer without a data-parallel mode: one line, nothing written."""
    import inspect

    from minimm.distributed import mpiexec_path
    from minimm.training import Trainer

    out = tmp_path / "run"
    if "distributed" not in inspect.signature(Trainer).parameters:
        assert main(QUICK_CVAE + ["--out", str(out), "--distributed"]) == 1
        _one_error_line(capsys, "--distributed:", "no data-parallel mode")
        assert not out.exists()
        return
    mpiexec = mpiexec_path()
    if mpiexec is None:
        pytest.skip("no mpiexec: pip install minimm[mpi] (mpich, mpi4py)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIMM_NUM_THREADS="1")

    def two_ranks(*argv):
        return subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "minimm", *QUICK_CVAE, *argv, "--distributed"],
                              capture_output=True, text=True, env=env, timeout=300)

    r = two_ranks("--epochs", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch   2") == 1 and r.stdout.count("training cvae") == 1, r.stdout  # rank 0 only
    assert mio.load(out / "checkpoint.npz")["extra"]["world_size"] == 2
    bad = two_ranks("--batch-size", "255", "--out", str(tmp_path / "b"))  # the global batch is split evenly
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "--batch-size 255 is the global batch" in bad.stderr


def test_distributed_train_of_a_gan_through_the_launcher(tmp_path):
    """A GAN's two-optimiser step trains data-parallel too: `python -m minimm.distributed.launch -n 2 -m
    minimm train cgan ... --distributed` — rank 0 alone prints and writes, the checkpoint says 2 ranks."""
    from minimm.distributed import mpiexec_path

    if mpiexec_path() is None:
        pytest.skip("no mpiexec: pip install minimm[mpi] (mpich, mpi4py)")
    out = tmp_path / "gan"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIMM_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "minimm.distributed.launch", "-n", "2", "-m", "minimm", "train", "cgan",
                        "--dataset", "digits", "--quick", "--epochs", "2", "--distributed", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("epoch   2") == 1 and "g_loss" in r.stdout, r.stdout
    assert mio.load(out / "checkpoint.npz")["extra"]["world_size"] == 2
