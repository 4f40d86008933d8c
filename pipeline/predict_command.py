"""`mtl predict`: answer raw feature rows with an exported model, in this process or through TF Serving; one row
or a few from --json, or a whole CSV / JSON Lines file in batches (serving/batch.py) to stdout or --output."""
from __future__ import annotations

import json

import click

from pipeline.core import kinds


def _json_rows(json_text: str) -> list:
    try:
        value = json.loads(json_text)
    except RecursionError:
        raise click.ClickException("--json: JSON nested too deeply to be a row of feature values") from None
    except ValueError as exc:  # JSONDecodeError, or an integer literal of thousands of digits
        raise click.ClickException(f"--json: not valid JSON ({str(exc)[:200]})") from None
    return value if isinstance(value, list) else [value]


def _answerer(model_dir, url, grpc_target, name, model_version, task, timeout, ignore_unknown):
    """(contract, rows -> answers): the model in-process or a TF Serving client; with `task`, answers holding
    that task only (from a server: its Classify/Regress API)."""
    from serving.client import GrpcClient, RestClient
    from serving.contract import ModelContract, RequestError

    if url or grpc_target:
        contract = ModelContract.load(model_dir)
        client = (RestClient(url, contract, name, model_version, timeout) if url
                  else GrpcClient(grpc_target, contract, name, model_version, timeout))
    else:
        from serving.inprocess import LocalModel

        client = LocalModel(model_dir)
    contract = client.contract
    if task and task not in contract.tasks:
        raise RequestError(f"'{task}' is not a task of this model; expected {', '.join(contract.tasks)}")
    if task and (url or grpc_target):
        ask = client.regress if kinds.kind(contract.tasks[task].type).serving_method == "regress" else client.classify
        return contract, lambda rows: contract.task_answers(task, ask(rows, task, ignore_unknown=ignore_unknown))
    if task:
        return contract, lambda rows: [{task: a[task]} for a in client.predict(rows, ignore_unknown=ignore_unknown)]
    return contract, lambda rows: client.predict(rows, ignore_unknown=ignore_unknown)


@click.command()
@click.option("--model-dir", required=True, type=click.Path(exists=True),
              help="A Pusher directory (<output>/serving/<name>; the newest version answers) or one version. "
                   "With --url/--grpc only its contract (assets.extra/mtl_model.json) is read.")
@click.option("--json", "json_text", help='One row or a list of rows, e.g. \'{"message": "where is my refund?"}\'.')
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="A file of rows answered in batches: CSV (a name ending .csv; a header line, an empty cell is a "
                   "missing value) or JSON Lines ('-' reads JSON Lines from stdin).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="With --input: write the answers here (JSON Lines, or CSV with one <task>.<field> column per "
                   "answer field when the name ends .csv), complete or not at all [default: stdout].")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="With --input: rows per model call or request.")
@click.option("--keep", multiple=True, help="With --input: copy this input column (e.g. an id) to each answer; "
                                            "repeatable.")
@click.option("--url", help="Ask a TF Serving REST endpoint instead, e.g. http://localhost:8501.")
@click.option("--grpc", "grpc_target", help="Ask a TF Serving gRPC endpoint instead, e.g. localhost:8500.")
@click.option("--name", help="Served model name (default: the model's config name).")
@click.option("--version", "model_version", type=int, help="Ask for this version (default: the newest).")
@click.option("--task", help="Answer only this task, in the same record as without --task; with --url/--grpc "
                             "through TF Serving's Classify/Regress API (its classify_<task> / regress_<task> "
                             "signature).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.option("--ignore-unknown", is_flag=True, help="Drop keys that are not model features (e.g. label columns).")
def predict(model_dir, json_text, input_path, output_path, batch_size, keep, url, grpc_target, name, model_version,
            task, timeout, ignore_unknown):
    """Answer raw feature rows (all tasks at once, or one with --task); prints one JSON line per row, an object
    keyed by task: {"<task>": {"label": ..., "probability": ...}, ...}.

    Without --url/--grpc the model is loaded in this process. `--input rows.csv --output answers.jsonl` scores
    a whole file in batches with a progress bar; each output line is what --json prints for that row."""
    from serving.batch import BatchError, answer_file, count_rows
    from serving.client import ServingClientError
    from serving.contract import RequestError

    if url and grpc_target:
        raise click.UsageError("give at most one of --url and --grpc")
    if (json_text is None) == (input_path is None):
        raise click.UsageError("give exactly one of --json and --input")
    if json_text is not None and (output_path or keep):
        raise click.UsageError("--output and --keep go with --input")
    rows = _json_rows(json_text) if json_text is not None else None
    try:
        contract, answer = _answerer(model_dir, url, grpc_target, name, model_version, task, timeout, ignore_unknown)
        if rows is not None:
            for one in answer(rows):
                click.echo(json.dumps(one))
            return
        to_file = output_path not in (None, "-")
        with click.progressbar(length=count_rows(input_path) if to_file else 0, label="rows", file=click.get_text_stream(
                "stderr"), show_pos=True, hidden=not to_file) as bar:
            done = answer_file(input_path, output_path, contract, answer, batch_size=batch_size, keep=keep,
                               ignore_unknown=ignore_unknown, stdout=click.get_text_stream("stdout"),
                               progress=bar.update)
        if to_file:
            click.echo(f"{done} rows answered: {output_path}", err=True)
    except (RequestError, BatchError, FileNotFoundError, ServingClientError) as exc:
        raise click.ClickException(str(exc)) from None
