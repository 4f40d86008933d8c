"""Real TFMA on hand-made rows: the project's EvalConfig with each task's label, scores and weight read from
columns instead of a model (TFMA's model-less path: ExtractEvaluateAndWriteResults on one Arrow batch)."""
import apache_beam as beam
import pyarrow as pa
import tensorflow_model_analysis as tfma

from components.evaluation import eval_config


def evaluate(config, columns: dict, out: str, batch_rows: int = 0, rewrite=None) -> str:
    """Run TFMA over `columns` ({name: list of values}; each task reads '<task>_label', '<task>_scores' and
    '<task>_weight', slices read their raw columns), as one Arrow batch or batches of `batch_rows` (confidence
    intervals resample whole input elements); `rewrite(eval_config)` may edit the EvalConfig first. Returns
    `out`, TFMA's output folder."""
    evaluation = eval_config(config)
    if rewrite is not None:
        rewrite(evaluation)
    spec = evaluation.model_specs[0]
    for name in ("signature_name", "preprocessing_function_names", "label_keys", "example_weight_keys"):
        spec.ClearField(name)
    for task in config.tasks:
        spec.label_keys[task], spec.prediction_keys[task] = f"{task}_label", f"{task}_scores"
        spec.example_weight_keys[task] = f"{task}_weight"
    arrays = {}
    for name, values in columns.items():
        kind = pa.float32() if isinstance(values[0], float) or name.endswith(("_scores", "_weight")) else None
        cells = [value if isinstance(value, list) else [value] for value in values]
        arrays[name] = pa.array(cells, type=pa.list_(kind) if kind else None)
    batch = pa.RecordBatch.from_arrays(list(arrays.values()), list(arrays))
    size = batch_rows or batch.num_rows
    batches = [batch.slice(start, size) for start in range(0, batch.num_rows, size)]
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(batches) | tfma.ExtractEvaluateAndWriteResults(eval_config=evaluation,
                                                                                   output_path=out)
    return out
