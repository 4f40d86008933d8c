"""Run a config's pipeline in-process with LocalDagRunner (SQLite MLMD and artifacts under the output dir)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from typing import Callable, Optional

from pipeline import beam
from pipeline import config as cfg
from pipeline import preflight, progress, summary
from pipeline.files import write_atomically
from pipeline.core.rundir import LOCK_FILE, RunDir  # noqa: F401 (local.LOCK_FILE for its callers)
from pipeline.os_errors import os_problem


class RunLocked(RuntimeError):
    """Another run is using the same output directory."""


class OutputNotWritable(RuntimeError):
    """The output directory cannot be created or written (read-only file system, permissions, a file in the way)."""


@contextlib.contextmanager
def output_lock(output: str):
    """Hold <output>/.mtl-run.lock for the duration: a second run on the same output fails at once, naming the
    holder, instead of writing into the same MLMD database and artifact folders. The OS releases the lock when
    the process ends, however it ends (no stale locks after a crash). Raises OutputNotWritable when the directory
    cannot be created or written, before anything else is."""
    try:
        os.makedirs(output, exist_ok=True)
        handle = open(RunDir(output).lock, "a+")
    except OSError as exc:
        problem = os_problem(exc) or exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            in_the_way = output
            while in_the_way and not os.path.exists(in_the_way):
                in_the_way = os.path.dirname(in_the_way)
            problem = f"{in_the_way} is a file, not a directory"
        raise OutputNotWritable(f"output directory {output} cannot be written: {problem}; set `output` to a "
                                "writable directory (runs/<name> by default)") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLocked(f"output directory {output} is in use by another run ({holder}); wait for it to end "
                            "or set a different `output`") from None
        handle.seek(0)
        handle.truncate()
        handle.write(RunDir.lock_text())
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def disable_in_process_beam_state_cache() -> None:
    """Beam 2.59's in-process (DirectRunner in_memory) worker hard-codes a 100 MB state cache whose size
    accounting walks every loaded module's globals on each side-input read (objsize); with TensorFlow loaded
    that dominated Transform (118 s of a 3k-row run). Size 0 turns the cache off; in-memory side inputs are
    cheap to re-read. Multi-process workers take `--max_cache_memory_usage_mb` from beam_args instead."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.STATE_CACHE_SIZE_MB = 0


def stage_schema(config: cfg.Config, output: str) -> cfg.Config:
    """Copy the curated schema to <output>/schemas/<content hash>/schema.pbtxt and point the config at it.

    ImportSchemaGen's cache key is the file *path*: without this, an edited schema would be ignored (the cached
    import of the old content reused)."""
    if not config.schema_path or cfg.is_uri(config.schema_path):
        return config
    with open(config.schema_path, "rb") as f:
        content = f.read()
    staged = RunDir(output).schema_for(hashlib.sha256(content).hexdigest()[:16])
    if not os.path.exists(staged):
        write_atomically(staged, content)
    return config.model_copy(update={"schema_path": staged})


def inference_answers(config: cfg.Config, result, paths: RunDir) -> dict:
    """The BulkInferrer's PredictionLogs of this run as <output>/inference/<run id>.jsonl (serving/inference_log.py);
    {"answers": path, "rows": n}, or {"why": ...} when nothing was scored (a model the Evaluator did not bless)."""
    from serving import inference_log
    from serving.contract import ModelContract

    logs, model = result.inference["result"], result.inference["model"]
    if not inference_log.log_files(logs):
        return {"why": "the model is not blessed" if result.blessed is False else f"no prediction logs in {logs}"}
    contract = ModelContract.load(os.path.join(model, "Format-Serving"))
    path = paths.inference_for(result.run_id)
    return {"answers": path, "rows": inference_log.write_answers(logs, contract, path, config.inference.keep)}


def run(config: cfg.Config, *, enable_cache: bool = True, until: str = "push",
        echo: Optional[Callable[[str], None]] = None, verbose: bool = False):
    """Checks the data, runs the pipeline, writes <output>/summary.json; returns the RunSummary.

    With echo, progress lines go to it and every log record to <output>/logs/ (pipeline/progress.py; verbose:
    also to stderr); without, logging is left as it is. Raises on any failure (ConfigError before anything is
    written; RunLocked when another run holds the output directory, OutputNotWritable when it cannot be written;
    a component's error otherwise)."""
    preflight.check_data(config)
    paths = RunDir(os.path.abspath(config.output_dir))
    with output_lock(paths.output):
        from tfx import v1 as tfx  # heavy: imported once the config, the data and the output are known to be good

        from pipeline.pipeline import create_pipeline

        pipeline = create_pipeline(stage_schema(config, paths.output), pipeline_root=paths.pipeline_root,
                                   output=paths.output, metadata_path=paths.metadata, enable_cache=enable_cache,
                                   until=until, beam_args=beam.plan(config))
        disable_in_process_beam_state_cache()
        with progress.live(paths.output, echo, verbose) if echo else contextlib.nullcontext():
            tfx.orchestration.LocalDagRunner().run(pipeline)
        result = summary.summarize(config, paths.metadata)
        if result.inference:
            result.inference = inference_answers(config, result, paths)
        summary.write(result, paths.output)
    return result
