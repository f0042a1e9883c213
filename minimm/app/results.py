"""Running the quality table over several seeds, and the one results file behind every table.

``minimm evaluate --seeds 0,1,2`` runs each recipe of :data:`minimm.app.quality.RECIPES` once per
seed — the seed draws the data split *and* the initialisation and the training noise — and
:func:`aggregate` turns the per-seed entries into one entry per metric:

==================  =================================================================
key                 meaning
==================  =================================================================
``value``           the mean over the seeds (``None`` if any seed failed)
``values``          the per-seed values, in the order of ``seeds``
``seeds``           the seeds
``sd``              the sample standard deviation over the seeds (two or more seeds)
``passed``          the **mean** meets the target
``n``               (where a row knows it) the number of test items behind each value
``se``              with ``n`` and a fraction: the binomial standard error
                    :math:`\\sqrt{p(1-p)/n}` of one seed's figure at the mean ``p``
``seconds``         the mean wall-clock seconds of the recipe per seed
``cpu_seconds``     the mean CPU seconds of its process per seed (what the recipe costs on a
                    machine shared with other work, where wall-clock seconds mislead)
==================  =================================================================

Other numbers a row adds (``evaluator_accuracy``, a dict of ``baselines``) are averaged over the
seeds the same way. The recipes can run in ``workers`` processes: every (recipe, seed) pair is an
independent task whose numbers do not depend on which process runs it or what ran there before
(the only state a process keeps between tasks, the cached judges of :mod:`minimm.app.evaluate`, is
a pure function of (device, seed)), so the results are the same with one worker or several.

:func:`update_results` replaces the entries of some recipes inside an existing results file,
keeping the others: rows measured separately (``--only video,sound --update FILE``) join one file.
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback

import numpy as np

from ..io.atomic import atomic_write

__all__ = ["run_recipe", "run_grid", "aggregate", "update_results", "load_results", "COST_HINT", "write_results",
           "write_results_json", "JOURNAL", "read_journal"]

# Each finished (recipe, seed) pair is appended here at once, so an interrupted run loses only the
# pairs that were running (``minimm evaluate --resume`` reuses the others).
JOURNAL = "runs.jsonl"

# Rough CPU-seconds of each recipe per seed (full setting): the parallel runs start the long tasks
# first so that no worker is left with a long one at the end. Only the order depends on these.
COST_HINT = {"text_to_video": 70, "sound_to_text": 43, "text_to_sound": 40, "diffusion_shapes": 37,
             "conv_vae": 30, "captioner": 29, "vae": 20, "conv_gan": 19, "cgan": 15, "video_to_text": 14,
             "cvae_shapes": 12, "diffusion_digits": 10, "heldout": 9, "mvae": 7, "tone": 4, "digit_evaluator": 3,
             "heldout_video": 2, "alignment": 1}


def run_recipe(name: str, quick: bool = False, device="cpu", seed: int = 0, progress: bool = False) -> list[dict]:
    """The entries of one recipe for one seed, with ``seconds``, ``quick``, ``recipe``, ``seed``; a
    recipe that raises gives one entry with ``value = None``, ``passed = False`` and ``error``."""
    from .quality import RECIPES

    fn, model_name = RECIPES[name]
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        rows = fn(quick=quick, device=device, seed=seed, progress=progress)
    except Exception as exc:  # noqa: BLE001 - one failing row must not hide the others
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        rows = [{"model": model_name, "task": name, "metric": name, "value": None, "target": "",
                 "passed": False, "error": last}]
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    for r in rows:
        r.update(seconds=round(seconds, 2), cpu_seconds=round(cpu, 2), quick=bool(quick), recipe=name, seed=int(seed))
    return rows


# Recipes that share a process-cached model (minimm.app.train_video caches the clip judge and the
# CVAE trained without the held-out combinations): with several workers, one seed's group runs as one
# task, in one process, so the cached model is trained once per seed and not once per worker.
SHARED = (("text_to_video", "heldout_video", "video_to_text"),)


def _task(tasks):
    return [(t, run_recipe(*t)) for t in tasks]


def _bundle(tasks: list) -> list[list]:
    """``tasks`` as lists to run in one process each: one seed's recipes of a :data:`SHARED` group
    together (in the group's order), every other (recipe, seed) pair alone."""
    bundles, groups = [], {}
    for t in tasks:
        group = next((g for g in SHARED if t[0] in g), None)
        if group is None:
            bundles.append([t])
        elif (group, t[3]) in groups:
            groups[(group, t[3])].append(t)
        else:
            groups[(group, t[3])] = [t]
            bundles.append(groups[(group, t[3])])
    for (group, _), bundle in groups.items():
        bundle.sort(key=lambda t: group.index(t[0]))
    return bundles


def run_grid(names, seeds, quick=False, device="cpu", progress=False, workers: int = 1, echo=None,
             journal=None, done=None) -> dict:
    """Run every (recipe, seed) pair, in ``workers`` processes (1: here, in order); returns
    ``{(name, seed): entries}``. ``echo`` is called with each finished entry. ``journal``: a file
    that each finished pair is appended to as one JSON line (:func:`read_journal`); ``done``: pairs
    already measured (``{(name, seed): entries}``, e.g. from a journal), which are not run again."""
    out = {k: v for k, v in (done or {}).items() if k[0] in names and k[1] in seeds}
    tasks = [(n, quick, device, s, progress and workers == 1) for s in seeds for n in names if (n, s) not in out]
    if not tasks:
        return out
    bundles = _bundle(tasks)
    if workers <= 1 or len(bundles) == 1:
        finished = map(_task, bundles)
        pool = None
    else:
        import multiprocessing as mp

        if str(device) != "cpu":
            raise ValueError(f"workers > 1 runs the recipes in CPU processes; device {device!r} takes workers=1")
        # long first, so that no worker is left with a long task at the end; results do not depend on it
        bundles.sort(key=lambda b: -sum(COST_HINT.get(t[0], 30) for t in b))
        # fork (Linux, macOS): the workers start from this process, whatever script or notebook
        # called us (spawn would re-run an unguarded __main__); spawn elsewhere
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(bundles)))
        finished = pool.imap_unordered(_task, bundles)
    try:
        for done_bundle in finished:
            for (name, _, _, seed, _), rows in done_bundle:
                out[(name, seed)] = rows
                if journal is not None:
                    _append_journal(journal, name, seed, quick, device, rows)
                for r in rows:
                    if echo is not None:
                        echo(r)
    finally:
        if pool is not None:
            pool.terminate()
    return out


def _append_journal(path, name, seed, quick, device, rows) -> None:
    line = json.dumps({"recipe": name, "seed": int(seed), "quick": bool(quick), "device": str(device),
                       "rows": rows}, ensure_ascii=False, default=_json_default)
    with open(path, "a", encoding="utf-8") as f:  # one line per pair: a kill tears at most the last one
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_journal(path, quick: bool, device="cpu") -> dict:
    """The pairs a run recorded in its journal ``path``, as ``{(name, seed): entries}``: only those
    measured in the same setting (``quick``, ``device``) and without an error (a failed pair is run
    again); a line torn by an interrupted write is skipped."""
    done = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("rows"), list):
                continue
            if rec.get("quick") != bool(quick) or rec.get("device") != str(device):
                continue
            if any("error" in r for r in rec["rows"]):
                continue
            done[(rec["recipe"], int(rec["seed"]))] = rec["rows"]
    return done


def _mean(xs):
    return float(np.mean(xs))


def _combine(values: list):
    """The per-seed values of one extra key: numbers → their mean, dicts → combined per key,
    anything else → the first seed's value."""
    first = values[0]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return _mean(values)
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in first if all(k in v for v in values)]
        return {k: _combine([v[k] for v in values]) for k in keys}
    return first


_SPECIAL = {"model", "task", "metric", "value", "target", "passed", "seconds", "quick", "recipe", "seed", "error"}


def aggregate(per_seed: dict, names, seeds) -> list[dict]:
    """One entry per (recipe, metric) from :func:`run_grid`'s per-seed entries (see the module
    docstring for the keys); in the order of ``names`` and of each recipe's entries."""
    entries = []
    for name in names:
        runs = [per_seed[(name, s)] for s in seeds]
        failed = [(s, r[0]) for s, r in zip(seeds, runs) if len(r) == 1 and "error" in r[0]]
        if failed or len({len(r) for r in runs}) != 1:
            s, bad = failed[0] if failed else (seeds[0], runs[0][0])
            e = dict(bad, value=None, passed=False, seeds=list(seeds), seed=None)
            e["error"] = f"seed {s}: {bad.get('error', 'the seeds gave different entries')}"
            entries.append(e)
            continue
        for i, first in enumerate(runs[0]):
            per = [r[i] for r in runs]
            values = [p["value"] for p in per]
            ok = all(v is not None and math.isfinite(v) for v in values)
            mean = _mean(values) if ok else None
            extras = {k: _combine([p[k] for p in per]) for k in first if k not in _SPECIAL
                      and all(k in p for p in per)}
            e = {"model": first["model"], "task": first["task"], "metric": first["metric"], "value": mean,
                 "target": first["target"], "passed": _meets(mean, first["target"])}
            e.update(extras)
            if isinstance(e.get("baselines"), dict):  # judged on the seeds' mean, like the model
                e["baselines_passed"] = {k: _meets(v, first["target"]) for k, v in e["baselines"].items()}
            e["values"], e["seeds"] = values, list(seeds)
            if len(seeds) > 1 and ok:
                e["sd"] = float(np.std(values, ddof=1))
            if "n" in e and ok and e["n"] and _is_fraction(first["metric"]):
                e["n"] = int(round(e["n"]))
                e["se"] = math.sqrt(max(mean * (1 - mean), 0.0) / e["n"])
            e["seconds"] = round(_mean([p["seconds"] for p in per]), 2)
            e["quick"], e["recipe"] = first["quick"], name
            entries.append(e)
    return entries


def _meets(value, target: str) -> bool:
    """``value`` meets ``target`` (``">= 0.95"``, ``"<= 17.35"``; ``"report"``: it is finite)."""
    if value is None or not math.isfinite(value):
        return False
    if target == "report":
        return True
    op, bound = target.split()
    return value >= float(bound) if op == ">=" else value <= float(bound)


def _is_fraction(metric: str) -> bool:
    return "nats" not in metric and "frechet" not in metric


def load_results(path) -> list[dict]:
    """The entries of a results file (``results.json``)."""
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "metric" in e for e in entries):
        raise ValueError(f"{path}: not a results file (a JSON list of entries, as minimm evaluate writes)")
    return entries


def update_results(path, new_entries: list[dict]) -> list[dict]:
    """Replace, in the results file ``path`` (created if missing), every entry of the recipes that
    ``new_entries`` measured by the new ones — at the place of the old ones, new recipes at the end —
    keep every other entry, write the file and return the merged list."""
    old = load_results(path) if os.path.exists(path) else []
    fresh = {e["recipe"] for e in new_entries}
    merged, placed = [], set()
    for e in old:
        r = e.get("recipe")
        if r in fresh:
            if r not in placed:
                merged += [n for n in new_entries if n["recipe"] == r]
                placed.add(r)
            continue
        merged.append(e)
    merged += [n for n in new_entries if n["recipe"] not in placed]

    write_results_json(merged, path)  # atomic: the old file or the new one, never half of one
    return merged


def write_results_json(entries: list[dict], path) -> str:
    """Write the entries as a results file (a JSON list), atomically; return its path."""
    data = json.dumps(entries, indent=1, ensure_ascii=False, default=_json_default) + "\n"
    atomic_write(os.fspath(path), lambda f: f.write(data.encode("utf-8")))
    return path


def write_results(entries: list[dict], out_dir) -> tuple[str, str]:
    """Write ``results.json`` and ``results.md`` (:func:`minimm.app.quality.format_table`) into
    ``out_dir``; return their paths."""
    from .quality import format_table

    os.makedirs(out_dir, exist_ok=True)
    jpath, mpath = os.path.join(out_dir, "results.json"), os.path.join(out_dir, "results.md")
    write_results_json(entries, jpath)
    table = format_table(entries) + "\n"
    atomic_write(mpath, lambda f: f.write(table.encode("utf-8")))
    return jpath, mpath


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
