"""What each compatibility script prints last, so that a run under minimm and a run under PyTorch
can be compared: one line ``COMPAT_RESULT {json}``.

``exact`` names the values that must agree up to floating-point rounding (``rtol``, ``atol``) (the script fixes its
initial weights and its data, so both libraries do the same arithmetic); ``tol`` gives, for values
that depend on random initial weights (drawn differently by the two libraries), the absolute
difference allowed — chosen wider than the spread of the value over seeds.
"""

import json


def report(values, exact=(), tol=None, rtol=1e-5, atol=1e-9):
    tol = dict(tol or {})
    unknown = (set(exact) | set(tol)) - set(values)
    assert not unknown, f"report: no value for {sorted(unknown)}"
    out = {"values": {k: float(v) for k, v in values.items()}, "exact": sorted(exact), "tol": tol, "rtol": rtol, "atol": atol}
    print("COMPAT_RESULT " + json.dumps(out))
