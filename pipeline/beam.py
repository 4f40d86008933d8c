"""Beam options of the data components and the Evaluator: the config's `beam_args`, or DirectRunner modes chosen
by input size (`plan`).

Small inputs run in-memory in one process: starting worker processes costs more than it saves. From
SWITCH_BYTES of input, the components whose work is per row (ExampleGen, StatisticsGen, Evaluator) run
multi-processing with one worker per core: faster, and their memory stays flat, where in-memory ExampleGen and
StatisticsGen buffer the whole dataset. Transform stays in-memory: its many small analyzer stages pay the
workers' start-up and data transfer every time, and multi-processing made it slower and three times larger.
bench/scale.py measured all of this (README, "Scaling").
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from pipeline import config as cfg

# --max_cache_memory_usage_mb=0: Beam's state cache accounting walks every loaded module's globals on each
# side-input read (see runners.local.disable_in_process_beam_state_cache); off, side inputs are re-read.
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--max_cache_memory_usage_mb=0"]
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                    "--max_cache_memory_usage_mb=0"]  # 0 workers = one per core
SWITCH_BYTES = 64 * 2 ** 20
SCALE_OUT = ("CsvExampleGen", "ImportExampleGen", "StatisticsGen", "Evaluator")  # component ids


def input_bytes(config: cfg.Config) -> Optional[int]:
    """Total size of the configured data files; None when any is remote (not measured)."""
    total = 0
    for pattern in (config.data.train, config.data.eval):
        if not pattern:
            continue
        if cfg.is_uri(pattern):
            return None
        total += sum(os.path.getsize(f) for f in cfg.expand_files(pattern))
    return total


def plan(config: cfg.Config, data_bytes: Optional[int] = None,
         cores: Optional[int] = None) -> Tuple[List[str], Dict[str, List[str]]]:
    """(pipeline-wide Beam args, {component id: args added for that component}). The config's beam_args, if set,
    apply everywhere. Otherwise in-memory, with SCALE_OUT components multi-processing when the input is at
    least SWITCH_BYTES and there is more than one core (remote input is not measured: set beam_args)."""
    if config.beam_args is not None:
        return list(config.beam_args), {}
    if data_bytes is None:
        data_bytes = input_bytes(config)
    cores = cores or os.cpu_count() or 1
    if data_bytes is not None and data_bytes >= SWITCH_BYTES and cores > 1:
        example_gen = "ImportExampleGen" if cfg.data_format(config.data.train) == "tfrecord" else "CsvExampleGen"
        return list(IN_MEMORY), {component: list(MULTI_PROCESSING) for component in SCALE_OUT
                                 if component == example_gen or not component.endswith("ExampleGen")}
    return list(IN_MEMORY), {}


def beam_args(config: cfg.Config, data_bytes: Optional[int] = None) -> List[str]:
    """The pipeline-wide part of plan()."""
    return plan(config, data_bytes)[0]


def describe_plan(args: List[str], per_component: Dict[str, List[str]]) -> str:
    if not per_component:
        return describe(args)
    groups: Dict[str, List[str]] = {}
    for component, extra in per_component.items():
        groups.setdefault(describe(args + extra), []).append(component)
    return "; ".join([f"{text} for {', '.join(names)}" for text, names in groups.items()]
                     + [f"{describe(args)} for the rest"])


def describe(args: List[str]) -> str:
    """One line for logs: the runner and mode the options select."""
    def last(flag, default):  # Beam's parser lets the last occurrence win
        return next((a.split("=", 1)[1] for a in reversed(args) if a.startswith(flag + "=")), default)

    runner = last("--runner", "DirectRunner")
    if runner != "DirectRunner":
        return runner
    mode, workers = last("--direct_running_mode", "in_memory"), last("--direct_num_workers", "1")
    return f"DirectRunner {mode}, " + ("one worker per core" if workers == "0" else f"{workers} worker(s)")
