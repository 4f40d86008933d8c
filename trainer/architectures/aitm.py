"""AITM (Xi et al., KDD 2021, "Modeling the Sequential Dependence among Audience Multi-step Conversions with
Multi-task Learning in Targeted Display Advertising"): the tasks form a funnel (`tasks.X.after: [previous]`,
e.g. impression -> click -> conversion, each labelled over every row). Each task has its own MLP on the shared
embeddings (q_t); a transfer MLP carries the previous step's representation (p_t-1 = g(z_t-1)), and the
Adaptive Information Transfer unit attends over [p_t-1, q_t] to give z_t, the input of the task's head. The
behavioural expectation calibrator adds `calibrator_weight` x mean(max(y_t - y_t-1, 0)): a later step (a
conversion) should not be more likely than the earlier one (a click)."""
from typing import Dict, List

import tensorflow as tf
import tf_keras

from pipeline import config as cfg
from trainer.architectures.base import Architecture, apply


class AttentionTransfer(tf_keras.layers.Layer):
    """[p, q] ([B, D] each) -> sum_u softmax_u(<h2(u), h1(u)> / sqrt(D)) h3(u) over u in {p, q} (AITM eq. 3-5)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.query, self.key, self.value = (tf_keras.layers.Dense(units, name=n) for n in ("h1", "h2", "h3"))

    def call(self, inputs):
        stacked = tf.stack(inputs, axis=1)  # [B, 2, D]
        scores = tf.reduce_sum(self.key(stacked) * self.query(stacked), axis=-1) / tf.sqrt(float(self.units))
        weights = tf.nn.softmax(scores, axis=1)  # [B, 2]
        return tf.reduce_sum(weights[..., None] * self.value(stacked), axis=1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class AITM(Architecture):
    def towers(self, shared_input, task_names):
        order, cycle = cfg.dependency_order({n: self.tasks[n] for n in task_names})
        if cycle:
            raise ValueError(f"tasks' `after` lists form a cycle among {cycle}")
        units = self.config.tower_units[-1]
        outputs: Dict[str, tf.Tensor] = {}
        for name in order:
            mlp = self.dense_stack([*self.config.shared_units, *self.config.tower_units], f"{name}_mlp", name)
            own = apply(mlp, shared_input)
            parents = self.tasks[name].after
            if parents:
                transfer = tf_keras.layers.Dense(units, activation="relu", name=f"{name}_transfer")
                unit = AttentionTransfer(units, name=f"{name}_ait")
                self.task_layers[name].extend([transfer, unit])
                own = unit([transfer(outputs[parents[0]]), own])
            outputs[name] = own
        return {name: outputs[name] for name in task_names}

    def extra_losses(self, outputs: Dict[str, tf.Tensor]) -> List[tf.Tensor]:
        weight = self.config.setting("calibrator_weight")
        pairs = [(n, t.after[0]) for n, t in self.tasks.items() if t.after and n in outputs]
        if not weight or not pairs:
            return []
        return [Calibrator(weight, name=f"{name}_calibrator")([outputs[name], outputs[parent]])
                for name, parent in pairs]


class Calibrator(tf_keras.layers.Layer):
    """weight x mean(max(p_later - p_earlier, 0)) over the batch: AITM's behavioural expectation calibrator."""

    def __init__(self, weight: float, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        later, earlier = (tf.reshape(x, [-1]) for x in inputs)
        return self.weight * tf.reduce_mean(tf.nn.relu(later - earlier))

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
