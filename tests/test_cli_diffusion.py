"""`minimm train diffusion` and `minimm generate --sampler/--steps/--guidance/--eta/--label`: the
same folder rules as every other model, defaults that are the reference setup, one-line errors."""

import json

import numpy as np
import pytest

import minimm.io as mio
from minimm.app.builders import load_for_inference
from minimm.app.cli import main

SHAPES = ["train", "diffusion", "--dataset", "shapes", "--quick"]
DIGITS = ["train", "diffusion", "--dataset", "digits", "--quick"]
CAPTION = "a small dim square at the bottom right"


def _one_error_line(capsys, *words) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("minimm: error: "), err
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "shapes"
    assert main(SHAPES + ["--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "digits"
    assert main(DIGITS + ["--epochs", "1", "--out", str(out)]) == 0
    return out


def test_train_writes_the_reference_model_and_its_batch(shapes_run, digits_run):
    for run, batch, cond in ((shapes_run, 256, "vectorizer"), (digits_run, 64, None)):
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["class"] == "ConditionalDiffusion" and cfg["kind"] == "diffusion"
        # the reference sampler of each: DDIM 5 steps, w = 0.25 on shapes; 20 steps, w = 0.5 on digits
        assert (cfg["args"]["guidance"], cfg["args"]["steps"]) == ((0.25, 5) if cond else (0.5, 20))
        assert (cond in cfg) if cond else ("vectorizer" not in cfg and cfg["args"]["cond_dim"] == 10)
        state = mio.load(run / "checkpoint.npz")
        # the per-pixel statistics of the Gaussian baseline travel in the checkpoint
        assert np.asarray(state["model"]["data_var"]).min() > 0
        history = json.loads((run / "history.json").read_text())
        # the reference batch (not 64) on shapes: 1000 quick images / 256 = 4 steps
        assert state["step"] == -(-(1000 if cond else 1437) // batch)
        assert len(history) == 1


@pytest.mark.parametrize("argv", [SHAPES, DIGITS])
def test_train_diffusion_resumes_bit_identically(argv, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(argv + ["--epochs", "2", "--out", str(straight)]) == 0
    assert main(argv + ["--epochs", "1", "--out", str(split)]) == 0
    assert main(argv + ["--epochs", "2", "--out", str(split), "--resume"]) == 0
    a, b = mio.load(straight / "checkpoint.npz"), mio.load(split / "checkpoint.npz")
    assert a["step"] == b["step"] > 0
    for k in a["model"]:
        np.testing.assert_array_equal(np.asarray(a["model"][k]), np.asarray(b["model"][k]), err_msg=k)


def test_train_diffusion_keeps_the_folder_rules(shapes_run, capsys):
    before = {p.name: p.read_bytes() for p in shapes_run.iterdir()}
    assert main(SHAPES + ["--epochs", "1", "--out", str(shapes_run)]) == 1
    _one_error_line(capsys, "already holds a diffusion model on shapes", "--resume", "--overwrite")
    assert main(DIGITS + ["--epochs", "2", "--out", str(shapes_run), "--resume"]) == 1
    _one_error_line(capsys, "holds a diffusion model trained on shapes", "not diffusion on digits")
    assert main(["train", "cvae", "--dataset", "shapes", "--quick", "--epochs", "2", "--out", str(shapes_run),
                 "--resume"]) == 1
    _one_error_line(capsys, "not cvae on shapes")
    assert {p.name: p.read_bytes() for p in shapes_run.iterdir()} == before


def test_generate_with_the_defaults_and_every_sampler_option(shapes_run, digits_run, tmp_path, capsys):
    png = tmp_path / "a.png"
    assert main(["generate", "--checkpoint", str(shapes_run), "--text", CAPTION, "--out", str(png)]) == 0
    assert "ddim 5 steps, guidance 0.25, eta 0" in capsys.readouterr().out and png.is_file()
    grid = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(shapes_run), "--text", CAPTION, "--out", str(grid), "--n", "3",
                 "--steps", "4", "--guidance", "2", "--eta", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 images" in out and "ddim 4 steps, guidance 2, eta 1" in out and grid.is_file()
    digit = tmp_path / "d.png"
    assert main(["generate", "--checkpoint", str(digits_run), "--label", "7", "--out", str(digit),
                 "--sampler", "ddpm", "--guidance", "0"]) == 0
    out = capsys.readouterr().out
    assert "label 7, ddpm 1000 steps, guidance 0" in out and digit.is_file()


def test_the_seed_decides_the_picture(digits_run, tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for path, seed in ((a, "1"), (b, "1"), (c, "2")):
        assert main(["generate", "--checkpoint", str(digits_run), "--label", "3", "--out", str(path),
                     "--seed", seed, "--steps", "3"]) == 0
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("options,words", [
    (["--steps", "0"], ("--steps must be at least 1, got 0",)),
    (["--steps", "-3"], ("--steps must be at least 1, got -3",)),
    (["--guidance", "-0.5"], ("--guidance must be a finite number >= 0", "-0.5")),
    (["--guidance", "nan"], ("--guidance must be a finite number >= 0",)),
    (["--eta", "2"], ("--eta must be between 0",)),
    (["--sampler", "euler"], ("--sampler euler", "samples with ddim or ddpm")),
    (["--sampler", "heun", "--steps", "5"], ("--sampler heun", "ddim or ddpm")),
    (["--sampler", "ddpm", "--steps", "50"], ("--steps 50", "all T = 1000", "--sampler ddim")),
    (["--sampler", "ddpm", "--eta", "0.5"], ("--eta", "--sampler ddpm takes none")),
    (["--steps", "5000"], ("--steps must be at most the model's T = 1000, got 5000",)),
])
def test_bad_sampler_options_are_one_line(shapes_run, tmp_path, options, words, capsys):
    png = tmp_path / "x.png"
    assert main(["generate", "--checkpoint", str(shapes_run), "--text", CAPTION, "--out", str(png)] + options) == 1
    _one_error_line(capsys, *words)
    assert not png.exists()


def test_options_the_model_cannot_use_are_one_line(shapes_run, digits_run, tmp_path, capsys):
    png = str(tmp_path / "x.png")
    assert main(["generate", "--checkpoint", str(shapes_run), "--label", "3", "--out", png]) == 1
    _one_error_line(capsys, "--label", "does not draw images from labels", "--text")
    assert main(["generate", "--checkpoint", str(digits_run), "--label", "10", "--out", png]) == 1
    _one_error_line(capsys, "--label must be a class id in [0, 9], got 10")
    assert main(["generate", "--checkpoint", str(digits_run), "--text", "a seven", "--out", png]) == 1
    _one_error_line(capsys, "does not draw images from captions", "--label")
    cvae = tmp_path / "cvae"
    assert main(["train", "cvae", "--dataset", "shapes", "--quick", "--epochs", "1", "--batch-size", "256",
                 "--out", str(cvae)]) == 0
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(cvae), "--text", CAPTION, "--out", png, "--steps", "5",
                 "--guidance", "1"]) == 1
    _one_error_line(capsys, "--steps, --guidance: only a diffusion model has sampler options", "a cvae model")


@pytest.mark.parametrize("argv", [
    ["generate", "--checkpoint", "x", "--text", "a circle", "--sampler", "dpm"],  # no such sampler
    ["generate", "--checkpoint", "x"],  # neither --text nor --label
    ["generate", "--checkpoint", "x", "--text", "a circle", "--label", "3"],  # both
    ["generate", "--checkpoint", "x", "--label", "three"],
])
def test_malformed_generate_arguments_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: minimm" in capsys.readouterr().err


def test_help_names_the_diffusion_options_and_their_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--sampler {ddim,ddpm,euler,heun}", "(default: ddim)", "--steps", "(default: the model's, 5 on shapes, "
                  "20 on digits;", "--guidance", "(default: the model's, 0.25 on shapes, 0.5 on digits)", "--eta",
                  "(default: the model's, 0.75 on shapes, 0 on digits)", "--label"):
        assert words in text, words
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "diffusion: denoising diffusion" in text and "165 for diffusion on shapes" in text
    assert "256 on shapes" in text
    assert "--schedule {linear,cosine}" in text and "(default: cosine; --resume keeps the run's own)" in text


@pytest.mark.parametrize("kind", ["cvae", "cgan"])
def test_label_draws_from_the_other_label_conditioned_models(kind, tmp_path, capsys):
    run, png = tmp_path / kind, tmp_path / "x.png"
    assert main(["train", kind, "--dataset", "digits", "--epochs", "1", "--out", str(run)]) == 0
    assert main(["generate", "--checkpoint", str(run), "--label", "4", "--n", "2", "--out", str(png)]) == 0
    assert "2 images for label 4" in capsys.readouterr().out and png.is_file()


def test_schedule_option_reaches_the_model_and_resume_keeps_it(tmp_path, capsys):
    run = tmp_path / "linear"
    assert main(DIGITS + ["--epochs", "1", "--schedule", "linear", "--out", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["args"]["schedule"] == "linear"
    model = load_for_inference(str(run)).model
    assert model.schedule_name == "linear" and model.schedule.name == "linear"
    # without --schedule a resume keeps the run's own; the resumed model is the linear one
    assert main(DIGITS + ["--epochs", "2", "--out", str(run), "--resume"]) == 0
    assert json.loads((run / "config.json").read_text())["args"]["schedule"] == "linear"
    assert len(json.loads((run / "history.json").read_text())) == 2
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(DIGITS + ["--epochs", "3", "--schedule", "cosine", "--out", str(run), "--resume"]) == 1
    _one_error_line(capsys, "cannot resume", "--schedule 'linear' there, 'cosine' here")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_the_default_schedule_is_the_reference_one(digits_run):
    assert json.loads((digits_run / "config.json").read_text())["args"]["schedule"] == "cosine"
    assert load_for_inference(str(digits_run)).model.schedule.name == "cosine"


@pytest.mark.parametrize("argv,words", [
    (DIGITS + ["--schedule", "quadratic"], ("--schedule must be linear or cosine, got 'quadratic'", "leave it out")),
    (["train", "cvae", "--dataset", "digits", "--quick", "--schedule", "linear"],
     ("--schedule: only a diffusion model has a noise schedule", "train cvae without it")),
])
def test_bad_schedule_is_one_line_and_writes_nothing(argv, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(argv + ["--epochs", "1", "--out", str(out)]) == 1
    _one_error_line(capsys, *words)
    assert not out.exists()
