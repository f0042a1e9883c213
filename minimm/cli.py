"""The ``minimm`` command line (also ``python -m minimm``).

``minimm demo`` is the README's main job. Until the multimodal pipeline lands it prints the
backends minimm found and trains a tiny two-layer network on a toy problem, from raw tensors.
"""

from __future__ import annotations

import argparse
import sys
import time

import minimm
from minimm import backend as B


def _backends_report() -> str:
    lines = [f"minimm {minimm.__version__}", "backends:"]
    lines.append("  cpu     NumPy " + __import__("numpy").__version__ + " (default)")
    if B.cuda_is_available():
        lines.append(f"  cuda    CuPy, {B.cuda_device_count()} GPU(s)")
    else:
        why = "CuPy not installed (pip install minimm[gpu])" if B._cupy is None else "CuPy found no GPU"
        lines.append(f"  cuda    unavailable: {why}")
    lines.append("  strict  " + ("array-api-strict stand-in device (tests)" if B.strict_is_available()
                                 else "unavailable (pip install minimm[test])"))
    return "\n".join(lines)


def tiny_demo(device: str = "cpu", seed: int = 0, steps: int = 300) -> float:
    """Train a 2-16-1 tanh/sigmoid network on XOR-like blobs with plain autograd; return accuracy."""
    minimm.manual_seed(seed)
    n = 256
    x = minimm.randn(n, 2, device=device)
    y = ((x[:, 0] * x[:, 1]) > 0).float().reshape(n, 1)
    w1 = (minimm.randn(2, 16, device=device) * 0.7).requires_grad_()
    b1 = minimm.zeros(16, device=device, requires_grad=True)
    w2 = (minimm.randn(16, 1, device=device) * 0.3).requires_grad_()
    b2 = minimm.zeros(1, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    for step in range(steps):
        logits = (x @ w1 + b1).tanh() @ w2 + b2
        # binary cross-entropy on logits, in its stable form softplus(z) − z·y
        loss = (logits.softplus() - logits * y).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with minimm.no_grad():
            for p in params:
                p.data = p.data - 0.5 * p.grad.data
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step:4d}  loss {loss.item():.4f}")
    with minimm.no_grad():
        pred = ((x @ w1 + b1).tanh() @ w2 + b2) > 0
        acc = (pred.float() == y).float().mean().item()
    return acc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="minimm", description="minimm: multimodal generation from scratch")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="train a small model and report (the README's main job)")
    demo.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    sub.add_parser("info", help="print the backends minimm can use")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(_backends_report())
        return 0
    if args.command is None:
        args = parser.parse_args(["demo"])
    print(_backends_report())
    try:
        B.device(args.device)
        if B.device(args.device).type == "cuda":
            B._require_cuda(B.device(args.device))
    except B.DeviceError as exc:
        print(f"minimm: error: {exc}", file=sys.stderr)
        return 2
    print(f"training a tiny 2-16-1 network on XOR blobs ({args.device}):")
    t0 = time.perf_counter()
    acc = tiny_demo(args.device, args.seed, steps=100 if args.quick else 300)
    print(f"train accuracy {acc:.1%} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
