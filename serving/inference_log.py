"""The BulkInferrer's output (`inference.data` in the config) as answers: its PredictionLogs (gzip'd TFRecords
of `bulk_inference` requests and responses: `serving_default`'s, decoded labels as [B, 1] columns) -> one record per row, the same record `mtl predict` prints for it
(serving/contract.py), plus the `inference.keep` columns read back from the row's tf.Example."""
from __future__ import annotations

import glob
import json
import os
from typing import Any, Dict, Iterator, List, Sequence

from serving.contract import ModelContract

LOG_PATTERN = "prediction_logs*"


def log_files(directory: str) -> List[str]:
    """The PredictionLog files of one InferenceResult artifact (none when the model was not blessed)."""
    return sorted(glob.glob(os.path.join(directory, LOG_PATTERN)))


def _kept(serialized: bytes, keep: Sequence[str]) -> Dict[str, Any]:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    kept = {}
    for name in keep:
        feature = example.features.feature.get(name)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = list(getattr(feature, kind).value) if kind else []
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
        kept[name] = values[0] if len(values) == 1 else (values or None)
    return kept


def answers(directory: str, contract: ModelContract, keep: Sequence[str] = ()) -> Iterator[Dict[str, Any]]:
    """Answer records in the order the logs hold them (the input order on the local DirectRunner)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    for path in log_files(directory):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator():
            log = prediction_log_pb2.PredictionLog.FromString(record)
            outputs = {name: tf.make_ndarray(t) for name, t in log.predict_log.response.outputs.items()}
            for task in contract.tasks.values():  # `bulk_inference` gives each decoded label as a [B, 1] column
                if task.label in outputs and task.type != "sequence_tagging" and outputs[task.label].ndim == 2:
                    outputs[task.label] = outputs[task.label][:, 0]
            rows = contract.answers(outputs)
            examples = list(log.predict_log.request.inputs[contract.input].string_val)
            for row, serialized in zip(rows, examples or [b""] * len(rows)):
                yield {**(_kept(serialized, keep) if keep else {}), **row}


def write_answers(directory: str, contract: ModelContract, path: str, keep: Sequence[str] = ()) -> int:
    """Writes the answers as JSON Lines to `path` (complete or not at all); returns the number of rows."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    count = 0
    try:
        with open(partial, "w", encoding="utf-8") as f:
            for answer in answers(directory, contract, keep):
                f.write(json.dumps(answer) + "\n")
                count += 1
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return count
