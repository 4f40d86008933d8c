"""Cross-stitch networks (Misra et al., CVPR 2016): one MLP column per task (`shared_units`), and after every
layer a cross-stitch unit that mixes the columns with a learned T x T matrix (rows start at 0.9 on the
diagonal, the rest spread evenly). Soft sharing: no layer is shared, only the mixing."""
import tensorflow as tf
import tf_keras

from trainer.architectures.base import Architecture, apply


class CrossStitchUnit(tf_keras.layers.Layer):
    """[x_1 .. x_T] (each [B, D]) -> [sum_j alpha_ij x_j for each i]."""

    def __init__(self, self_weight: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.self_weight = float(self_weight)

    def build(self, input_shape):
        count = len(input_shape)
        other = (1.0 - self.self_weight) / (count - 1)
        initial = [[self.self_weight if i == j else other for j in range(count)] for i in range(count)]
        self.alpha = self.add_weight(name="alpha", shape=(count, count), initializer=tf.constant_initializer(initial))
        super().build(input_shape)

    def call(self, inputs):
        stacked = tf.stack(inputs, axis=1)  # [B, T, D]
        mixed = tf.einsum("ij,bjd->bid", self.alpha, stacked)
        return tf.unstack(mixed, num=len(inputs), axis=1)

    def get_config(self):
        return {**super().get_config(), "self_weight": self.self_weight}


class CrossStitch(Architecture):
    def towers(self, shared_input, task_names):
        columns = [shared_input] * len(task_names)
        for i, width in enumerate(self.config.shared_units):
            columns = [apply(self.dense_stack([width], f"{name}_column_{i}", name), x)
                       for name, x in zip(task_names, columns)]
            if len(task_names) > 1:
                unit = CrossStitchUnit(name=f"cross_stitch_{i}")
                columns = unit(columns)
                self.last_shared_layers = [unit]
        return {name: self.tower(name, x) for name, x in zip(task_names, columns)}
