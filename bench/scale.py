"""Scaling: the census pipeline end to end at several data sizes, per component: wall time, CPU time, peak RSS.

Sizes are total rows (train + eval, eval a third as in the official files). Sizes above the official
299,285 rows repeat the official rows. Each size runs `mtl run --no-cache` in a child process, so start-up
and imports are counted too. A sampler records the summed RSS of that process and its children (Beam
workers) and their CPU time every 0.2 s (memory as PSS, see TreeSampler), and each sample is attributed to the component whose MLMD
execution was running at the time.

    python -m bench.scale [--sizes 25000,100000,300000,1000000] [--modes auto] [--epochs 1] [--until push]
    python -m bench.scale --sizes 100000,300000 --modes in_memory,multi_processing --until transform
    python -m bench.scale --report            # the table of bench/results/scale.json

--modes takes auto (the pipeline's own choice, pipeline/beam.py: in-memory since the streaming ExampleGen),
in_memory or multi_processing (every component); comparing them is how that default was chosen. Training uses the census
config's model with --epochs epochs and no early stopping, so the Trainer's work is proportional to rows.
Data are written under data/scale/ and runs under runs/bench-scale/; both are reused or overwritten.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from typing import Dict, List

import psutil
import yaml

from bench.common import table, write_results
from pipeline.files import atomic_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CENSUS = os.path.join(REPO, "data", "census")
EVAL_SHARE = 99762 / (199523 + 99762)
MODES = {"in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--max_cache_memory_usage_mb=0"],
         "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                              "--max_cache_memory_usage_mb=0"],
         "auto": None}


def write_rows(source: str, target: str, rows: int) -> None:
    """`rows` data rows from `source` (repeated from the top when it runs out), header kept; streamed."""
    with open(source, newline="") as f:
        header = next(csv.reader(f))
    with atomic_file(target, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        written = 0
        while written < rows:
            with open(source, newline="") as f:
                reader = csv.reader(f)
                next(reader)
                for row in itertools.islice(reader, rows - written):
                    writer.writerow(row)
                    written += 1


def scaled_data(rows: int) -> Dict[str, str]:
    """data/scale/<rows>/{train,eval}.csv from the official census files (needs `mtl data census`)."""
    folder = os.path.join(REPO, "data", "scale", str(rows))
    paths = {"train": os.path.join(folder, "train.csv"), "eval": os.path.join(folder, "eval.csv")}
    if not all(os.path.exists(p) for p in paths.values()):
        os.makedirs(folder, exist_ok=True)
        eval_rows = int(round(rows * EVAL_SHARE))
        write_rows(os.path.join(CENSUS, "train.csv"), paths["train"], rows - eval_rows)
        write_rows(os.path.join(CENSUS, "test.csv"), paths["eval"], eval_rows)
    return paths


class TreeSampler(threading.Thread):
    """Samples (time, summed PSS bytes, summed CPU seconds) of a process and its descendants. PSS (proportional
    set size) charges each shared page to its sharers in part, so Beam workers that share TensorFlow's libraries
    are not counted several times over, as summed RSS would."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval, self.samples, self.done = psutil.Process(pid), interval, [], threading.Event()
        self.cpu_of: Dict[int, float] = {}  # last CPU seconds seen per process (kept after it exits)

    def run(self):
        while not self.done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rss = 0
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss += proc.memory_full_info().pss
                        times = proc.cpu_times()
                        self.cpu_of[proc.pid] = times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            self.samples.append((time.time(), rss, sum(self.cpu_of.values())))
            self.done.wait(self.interval)


def component_windows(metadata: str) -> List[dict]:
    """(component, start, end) of each execution of the latest run, from MLMD."""
    from pipeline.history import read_only_store

    store = read_only_store(metadata)
    run = max(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    node_type = store.get_context_type("node").id
    windows = []
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch):
        node = next(c.name for c in store.get_contexts_by_execution(execution.id) if c.type_id == node_type)
        windows.append({"component": node.split(".", 1)[-1], "start": execution.create_time_since_epoch / 1000,
                        "end": execution.last_update_time_since_epoch / 1000})
    return windows


def measured_run(config_path: str, output: str, flags: List[str]):
    """`mtl run --config <config_path> <flags> --allow-unblessed` in a child process, sampled: (wall seconds,
    samples, per component {component, wall_s, cpu_s, peak_mb}); the log goes to <output>/bench.log."""
    mtl = os.path.join(os.path.dirname(sys.executable), "mtl")
    start = time.time()
    with open(os.path.join(output, "bench.log"), "w") as log:
        child = subprocess.Popen([mtl, "run", "--config", config_path, *flags, "--allow-unblessed"], cwd=REPO,
                                 stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(child.pid)
        sampler.start()
        code = child.wait()
        sampler.done.set()
        sampler.join()
    wall = time.time() - start
    if code != 0:
        raise RuntimeError(f"{config_path}: mtl run failed (exit {code}); see {output}/bench.log")
    samples, components = sampler.samples, []
    for window in component_windows(os.path.join(output, "metadata.sqlite")):
        inside = [s for s in samples if window["start"] <= s[0] <= window["end"]]
        before = [s for s in samples if s[0] < window["start"]]
        cpu = (inside[-1][2] - (before[-1][2] if before else 0.0)) if inside else 0.0
        components.append({"component": window["component"], "wall_s": round(window["end"] - window["start"], 1),
                           "cpu_s": round(cpu, 1), "peak_mb": round(max((s[1] for s in inside), default=0)
                                                                        / 2 ** 20)})
    return wall, samples, components


def measure(rows: int, mode: str, epochs: int, until: str) -> dict:
    """One `mtl run --no-cache` of the census config on `rows` rows; totals and per-component figures."""
    paths = scaled_data(rows)
    raw = yaml.safe_load(open(os.path.join(REPO, "configs", "census.yaml")))
    output = os.path.join(REPO, "runs", "bench-scale", f"{rows}-{mode}")
    raw.update(name="census-scale", data=paths, output=output)
    raw["training"] = {**raw.get("training", {}), "epochs": epochs, "early_stopping_patience": 0}
    if MODES[mode] is not None:
        raw["beam_args"] = MODES[mode]
    os.makedirs(output, exist_ok=True)
    for stale in ("metadata.sqlite",):
        if os.path.exists(os.path.join(output, stale)):
            os.remove(os.path.join(output, stale))
    config_path = os.path.join(output, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(raw, f)
    wall, samples, components = measured_run(config_path, output, ["--no-cache", "--until", until])
    sizes = {split: os.path.getsize(p) for split, p in paths.items()}
    return {"rows": rows, "mode": mode, "input_mb": round(sum(sizes.values()) / 2 ** 20, 1), "wall_s": round(wall, 1),
            "cpu_s": round(samples[-1][2], 1) if samples else 0.0,
            "peak_mb": round(max((s[1] for s in samples), default=0) / 2 ** 20), "components": components}


MAIN = ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator")


def report(results: List[dict]) -> str:
    totals = table(["rows", "input MB", "Beam mode", "wall s", "CPU s", "peak memory MB", "wall s per 100k rows"],
                   [[f"{r['rows']:,}", r["input_mb"], r["mode"], r["wall_s"], r["cpu_s"], r["peak_mb"],
                     round(r["wall_s"] / r["rows"] * 1e5, 1)] for r in results])
    names = [n for n in MAIN if any(c["component"] == n for r in results for c in r["components"])]
    rows = []
    for r in results:
        by = {c["component"]: c for c in r["components"]}
        rows.append([f"{r['rows']:,} {r['mode']}"] + [
            f"{by[n]['wall_s']} / {by[n]['cpu_s']} / {by[n]['peak_mb']}" if n in by else "" for n in names])
    return (totals + "\n\nPer component: wall s / CPU s / peak memory MB (the other components take < 1 s)\n\n"
            + table(["run", *names], rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25000,100000,300000,1000000")
    parser.add_argument("--modes", default="auto")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--until", choices=["transform", "push"], default="push")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "scale.json"))
    parser.add_argument("--append", action="store_true", help="keep the other results already in --out")
    parser.add_argument("--report", action="store_true", help="only print the table of the results in --out")
    args = parser.parse_args(argv)
    results = json.load(open(args.out))["results"] if (args.append or args.report) and os.path.exists(args.out) else []
    if args.report:
        print(report(results))
        return
    if not os.path.exists(os.path.join(CENSUS, "train.csv")):
        sys.exit("census data missing: run `mtl data census` (or make data) first")
    for rows in [int(s) for s in args.sizes.split(",")]:
        for mode in args.modes.split(","):
            print(f"{rows:,} rows, {mode} ...", flush=True)
            result = measure(rows, mode, args.epochs, args.until)
            result["settings"] = {"epochs": args.epochs, "until": args.until}
            results = sorted([r for r in results if (r["rows"], r["mode"]) != (rows, mode)] + [result],
                             key=lambda r: (r["rows"], r["mode"]))
            print(f"  {result['wall_s']} s, peak memory {result['peak_mb']} MB", flush=True)
            write_results(args.out, {"results": results})
    print("\n" + report(results) + f"\n\nwrote {args.out}")


if __name__ == "__main__":
    main()
