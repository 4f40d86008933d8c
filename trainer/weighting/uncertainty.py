"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

Each task learns s = log(sigma^2). Its loss term is prior * (f * exp(-s) * L + s / 2) with f = 1/2 for
regression (Gaussian likelihood) and f = 1 for classification (softmax/sigmoid likelihood): a noisy or hard
task raises its s and so lowers its own weight, and the s / 2 term keeps s from growing without bound.
"""
import tensorflow as tf

from pipeline.core import kinds
from trainer.weighting.base import LossWeighting


class Uncertainty(LossWeighting):
    def __init__(self, tasks, training):
        super().__init__(tasks, training)
        self.factor = tf.constant([0.5 if kinds.kind(tasks[n].type).predicts == "value" else 1.0
                                   for n in self.task_names])
        self.log_variance = tf.Variable(tf.zeros([len(self.task_names)]), trainable=True, name="log_variance")

    def weights(self, losses):
        return self._as_dict(self._prior_vector() * self.factor * tf.exp(-self.log_variance))

    def regularization(self):
        return tf.reduce_sum(self._prior_vector() * self.log_variance) / 2.0
