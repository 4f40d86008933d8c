"""Beam options of the data components and the Evaluator: the config's `beam_args`, or a DirectRunner mode
chosen by input size.

Small inputs run in-memory in one process: starting worker processes costs more than it saves. Large inputs
run multi-processing on every core. `SWITCH_BYTES` is where bench/scale.py measured the switch to pay off
(README, "Scaling").
"""
from __future__ import annotations

import os
from typing import List, Optional

from pipeline import config as cfg

# --max_cache_memory_usage_mb=0: Beam's state cache accounting walks every loaded module's globals on each
# side-input read (see runners.local.disable_in_process_beam_state_cache); off, side inputs are re-read.
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--max_cache_memory_usage_mb=0"]
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                    "--max_cache_memory_usage_mb=0"]  # 0 workers = one per core
SWITCH_BYTES = 256 * 2 ** 20


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


def beam_args(config: cfg.Config, data_bytes: Optional[int] = None) -> List[str]:
    """The config's beam_args if set; else the DirectRunner mode for `data_bytes` of input (unknown: in-memory
    unless the input is remote, where a cluster runner should be configured anyway)."""
    if config.beam_args is not None:
        return list(config.beam_args)
    if data_bytes is None:
        data_bytes = input_bytes(config)
    if data_bytes is not None and data_bytes >= SWITCH_BYTES:
        return list(MULTI_PROCESSING)
    return list(IN_MEMORY)


def describe(args: List[str]) -> str:
    """One line for logs: the runner and mode the options select."""
    runner = next((a.split("=", 1)[1] for a in args if a.startswith("--runner=")), "DirectRunner")
    if runner != "DirectRunner":
        return runner
    mode = next((a.split("=", 1)[1] for a in args if a.startswith("--direct_running_mode=")), "in_memory")
    workers = next((a.split("=", 1)[1] for a in args if a.startswith("--direct_num_workers=")), "1")
    return f"DirectRunner {mode}, " + ("one worker per core" if workers == "0" else f"{workers} worker(s)")
