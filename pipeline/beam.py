"""Beam options of the data components and the Evaluator: the config's `beam_args`, or the DirectRunner
in-memory (`plan`).

In-memory at every input size: the streaming ExampleGen (components/example_gen.py) removed the only
component whose in-memory memory grew with the data, and the others stream. bench/scale.py measured 2.9 GB
peak at 1M census rows in-memory (2 cores). Multi-processing (one worker per core) was faster only for the
Evaluator (480 s against 697 s at 1M rows) and StatisticsGen (73 s against 88 s), at the cost of memory that
grows with the data: the runner process holds what passes between stages (Evaluator 3.4 GB at 100k, 6.2 GB at
1M), and Transform became slower and three times larger. Ask for it in `beam_args` where memory is plentiful
(README, "Scaling").
"""
from __future__ import annotations

from typing import List

from pipeline import config as cfg

# --max_cache_memory_usage_mb=0: Beam's state cache accounting walks every loaded module's globals on each
# side-input read (see runners.local.disable_in_process_beam_state_cache); off, side inputs are re-read.
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--max_cache_memory_usage_mb=0"]
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                    "--max_cache_memory_usage_mb=0"]  # 0 workers = one per core


def plan(config: cfg.Config) -> List[str]:
    """The pipeline's Beam args: the config's beam_args when set, else in-memory, whatever the input size
    (module docstring)."""
    return list(config.beam_args) if config.beam_args is not None else list(IN_MEMORY)


def describe(args: List[str]) -> str:
    """One line for logs: the runner and mode the options select."""
    def last(flag, default):  # Beam's parser lets the last occurrence win
        return next((a.split("=", 1)[1] for a in reversed(args) if a.startswith(flag + "=")), default)

    runner = last("--runner", "DirectRunner")
    if runner != "DirectRunner":
        return runner
    mode, workers = last("--direct_running_mode", "in_memory"), last("--direct_num_workers", "1")
    return f"DirectRunner {mode}, " + ("one worker per core" if workers == "0" else f"{workers} worker(s)")
