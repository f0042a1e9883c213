"""The benchmark harness runs in a smoke mode in CI so it cannot rot; its first-step agreement
check (minimm vs the hand-written NumPy reference, same weights and noise) must pass.
Nothing here asserts a time: speed is measured by ``python -m benchmarks.run``, not tested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_harness_smoke_mode_and_first_step_agreement(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--batch", "32", "--workloads", "W1,W2,W3,demo",
         "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    assert [r["workload"] for r in rows] == ["W1", "W2", "W3", "demo"]
    for r in rows:
        assert r["agreement"] == "ok" and r["worst_scaled_error"] <= 1.0
        assert r["reference_ms"] > 0 and r["minimm_ms"] > 0
    assert "ratio" in proc.stdout


def test_references_agree_with_minimm_in_process():
    """The same agreement check, in this process, so a failure shows a readable traceback."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import run
    finally:
        sys.path.pop(0)
    for w in ("W1", "W2", "W3", "demo"):
        assert run.agreement(w, 16, "cpu")["agreement"] == "ok"


def test_gpu_script_is_valid_and_refuses_cleanly_without_a_gpu():
    """gpu.sh is what runs on a GPU machine; here it must parse and stop with a clear reason."""
    script = ROOT / "benchmarks" / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    import minimm

    if minimm.cuda.is_available():  # pragma: no cover - a GPU machine runs the real thing
        return
    proc = subprocess.run(["bash", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 1
    assert "no usable GPU" in proc.stdout


def test_interleaved_table_checks_first_losses_and_skips_missing_peers_by_name(tmp_path):
    """One tiny interleaved run with every peer asked for: the installed ones (PyTorch here, when
    present) must agree on the first losses; the others are listed as skipped, by name."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import interleaved, peers
    finally:
        sys.path.pop(0)
    out = tmp_path / "table.json"
    code = interleaved.main(["--workloads", "W1,W2,W3,W3f", "--peers", "all", "--runs", "1", "--rounds", "1",
                             "--steps", "1", "--warmup", "0", "--batch", "16", "--n-ops", "60", "--json", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())
    assert [r["workload"] for r in rows] == ["W1", "W2", "W3", "W3f"]
    for r in rows[:3]:
        assert "minimm" in r["ratios"] and r["reference_ms"] > 0
        for name in peers.PEERS:  # every peer is either a column or named as skipped
            assert name in r["ratios"] or any(n.startswith(name + ":") for n in r["notes"]), (name, r)
    assert set(rows[3]["ratios"]) == {"minimm"}
