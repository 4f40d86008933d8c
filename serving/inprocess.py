"""Answer raw feature dicts with an exported model loaded in this process (no server): `mtl predict --model-dir`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from serving.contract import ModelContract, latest_version


class LocalModel:
    """The newest version under a Pusher directory (or one version directory), loaded with TensorFlow."""

    def __init__(self, model_dir):
        import tensorflow as tf

        self.path: Path = latest_version(model_dir)
        self.contract = ModelContract.load(self.path)
        self._signature = tf.saved_model.load(str(self.path)).signatures[self.contract.signature]

    def outputs(self, serialized: Sequence[bytes]) -> Dict[str, Any]:
        import tensorflow as tf

        result = self._signature(**{self.contract.input: tf.constant(list(serialized), dtype=tf.string)})
        return {name: value.numpy() for name, value in result.items()}

    def predict(self, rows: Sequence[Mapping[str, Any]], ignore_unknown: bool = False) -> List[Dict[str, Any]]:
        return self.contract.answers(self.outputs(self.contract.examples(rows, ignore_unknown)))
