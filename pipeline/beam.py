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

from typing import List, Sequence

from pipeline import config as cfg

# TFX's Beam executors (tfx/dsl/components/base/base_beam_executor.py -> dependency_utils.
# make_beam_dependency_flags) repackage the installed TFX as an sdist for remote workers unless the args name how
# the workers get their dependencies (one of DEPENDENCY_FLAGS): a 49 MB folder in /tmp, never removed, and up to
# half a minute per Beam component per run (it filled CI's disk). The DirectRunner's workers are this process or
# its threads/subprocesses, which import the installed packages, and Beam ignores the flag for all of them: the
# FnApiRunner gives them EmbeddedPython(Grpc)Environment / SubprocessSDKEnvironment with no artifacts (fn_runner.py);
# only the options-built environments of the portable and Dataflow runners read it. Other runners get TFX's package.
DEPENDENCY_FLAGS = ("--extra_packages", "--extra_package", "--setup_file", "--requirements_file",
                    "--worker_harness_container_image", "--sdk_container_image")
LOCAL_WORKERS = "--sdk_container_image=unused-by-the-direct-runner"
# --max_cache_memory_usage_mb=0: Beam's state cache accounting walks every loaded module's globals on each
# side-input read (see runners.local.disable_in_process_beam_state_cache); off, side inputs are re-read.
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--max_cache_memory_usage_mb=0",
             LOCAL_WORKERS]
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=0",
                    "--max_cache_memory_usage_mb=0", LOCAL_WORKERS]  # 0 workers = one per core


def plan(config: cfg.Config) -> List[str]:
    """The pipeline's Beam args: the config's beam_args when set, else in-memory, whatever the input size
    (module docstring). DirectRunner args get LOCAL_WORKERS unless they name their dependencies themselves."""
    if config.beam_args is None:
        return list(IN_MEMORY)
    args = list(config.beam_args)
    named = any(a.split("=", 1)[0] in DEPENDENCY_FLAGS for a in args)
    return args if named or runner(args) != "DirectRunner" else args + [LOCAL_WORKERS]


def _last(args: Sequence[str], flag: str, default: str) -> str:
    """A flag's value; Beam's parser lets the last occurrence win."""
    return next((a.split("=", 1)[1] for a in reversed(args) if a.startswith(flag + "=")), default)


def runner(args: Sequence[str]) -> str:
    """The runner the args select; DirectRunner for every spelling Beam maps to one (`direct`, `DirectRunner`, ...)."""
    name = _last(args, "--runner", "DirectRunner")
    local = name.lower().removesuffix("runner") in ("direct", "switchingdirect", "bundlebaseddirect")
    return "DirectRunner" if local else name


def describe(args: List[str]) -> str:
    """One line for logs: the runner and mode the options select."""
    if runner(args) != "DirectRunner":
        return runner(args)
    mode, workers = _last(args, "--direct_running_mode", "in_memory"), _last(args, "--direct_num_workers", "1")
    return f"DirectRunner {mode}, " + ("one worker per core" if workers == "0" else f"{workers} worker(s)")
