"""The diffusion rows of `minimm evaluate`: well-formed entries in quick mode, and every trivial
baseline fails at least one of its row's real targets (the training copy only the memorisation
ratio: it draws real images)."""

import functools
import math

import numpy as np
import pytest

from minimm.app import quality_diffusion as qd
from minimm.app.quality import RECIPES
from minimm.data import load_shapes

BASELINE_NAMES = {"class mean + noise", "per-class Gaussian", "training copy"}


def _fails(value: float, target: str) -> bool:
    op, bound = target.split()
    return not (value >= float(bound) if op == ">=" else value <= float(bound))


@pytest.fixture(scope="module")
def rows():
    """Both rows in quick mode; the diffusion models trained for a couple of epochs only (the rows'
    judges are the real, cached evaluators)."""
    patch = pytest.MonkeyPatch()
    for name, epochs in (("train_diffusion_shapes", 2), ("train_diffusion_digits", 2)):
        patch.setattr(qd, name, functools.partial(getattr(qd, name), epochs=epochs))
    try:
        yield {"shapes": qd.diffusion_shapes_row(quick=True), "digits": qd.diffusion_digits_row(quick=True)}
    finally:
        patch.undo()


def test_both_rows_are_registered_in_the_table():
    assert RECIPES["diffusion_shapes"][0] is qd.diffusion_shapes_row
    assert RECIPES["diffusion_digits"][0] is qd.diffusion_digits_row


def test_quick_rows_give_well_formed_entries(rows):
    assert [e["metric"] for e in rows["shapes"]] == ["coherence", "recall", "coverage", "memorisation_ratio"]
    assert [e["metric"] for e in rows["digits"]] == ["sample_accuracy", "frechet_distance", "memorisation_ratio"]
    for name, entries in rows.items():
        for e in entries:
            assert {"model", "task", "metric", "value", "target", "passed", "baselines", "n"} <= set(e)
            assert math.isfinite(e["value"])
            assert e["n"] == (200 if name == "shapes" else 360)  # quick shapes: 200 test captions
            assert set(e["baselines"]) == BASELINE_NAMES
            assert all(math.isfinite(v) for v in e["baselines"].values())
            assert e["passed"] == (not _fails(e["value"], e["target"]))
        first = entries[0]
        assert 0.9 <= first["evaluator_accuracy"] <= 1.0
        assert first["train_seconds"] > 0 and first["sample_seconds_64"] > 0
        # the copy of the training set is exactly at distance 0 from it
        assert entries[-1]["baselines"]["training copy"] == pytest.approx(0.0, abs=1e-6)
    shapes = {e["metric"]: e for e in rows["shapes"]}
    # "at least the CVAE's": the bound is the mean over seeds 0-2 of the CVAE's own row (same protocol)
    for m in ("recall", "coverage"):
        assert float(shapes[m]["target"].split()[1]) == pytest.approx(qd.CVAE_SHAPES[m], abs=1e-4)
        assert shapes[m]["cvae"] == qd.CVAE_SHAPES[m]
    fd = rows["digits"][1]
    assert float(fd["target"].split()[1]) == pytest.approx(min(qd.CGAN_FRECHET, qd.FRECHET_CAP), abs=1e-4)


def test_every_baseline_fails_a_real_target_of_its_row(rows):
    for name, entries in rows.items():
        for baseline in BASELINE_NAMES:
            failed = [e["metric"] for e in entries if _fails(e["baselines"][baseline], e["target"])]
            assert failed, f"{baseline} passes every target of the {name} row"
    # and the fixed targets alone already reject each one (not only bounds set by a weak comparator)
    fixed = {"coherence": ">= 0.95", "memorisation_ratio": f">= {qd.MEMORISATION_TARGET[1]}",
             "frechet_distance": f"<= {qd.FRECHET_CAP}", "sample_accuracy": ">= 0.95"}
    for name, entries in rows.items():
        for baseline in BASELINE_NAMES:
            assert any(_fails(e["baselines"][baseline], fixed[e["metric"]]) for e in entries if e["metric"] in fixed)


def test_shapes_classes_number_the_80_combinations():
    test = load_shapes(n_train=10, n_test=400, seed=1, with_sound=False).test
    ids = qd.shapes_classes(test.attributes)
    assert ids.min() >= 0 and ids.max() < 80 and len(np.unique(ids)) == 80  # the test split covers all 80
    same = ids[:, None] == ids[None, :]
    attrs = np.stack([np.asarray(test.attributes[a]) for a in ("shape", "size", "position", "intensity")], 1)
    assert np.array_equal(same, (attrs[:, None] == attrs[None, :]).all(-1))


def test_memorisation_ratio_is_zero_for_copies_and_one_for_the_test_set():
    rng = np.random.default_rng(0)
    train, test = rng.random((50, 4, 4)), rng.random((20, 4, 4))
    assert qd.memorisation_ratio(train[:10], test, train) == 0.0
    assert qd.memorisation_ratio(test, test, train) == pytest.approx(1.0)


def test_comparator_bounds_are_the_committed_rows_means():
    """The constant bounds are the CVAE's and the cGAN's means in the one results file: when those
    rows are measured again and move, this fails until the constants follow."""
    import json
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "assets" / "results.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    mean = {(e["recipe"], e["metric"]): e["value"] for e in entries}
    for m in ("recall", "coverage"):
        assert qd.CVAE_SHAPES[m] == pytest.approx(mean[("cvae_shapes", m)], abs=1e-4)
    assert qd.CGAN_FRECHET == pytest.approx(mean[("cgan", "frechet_distance")], abs=1e-4)
