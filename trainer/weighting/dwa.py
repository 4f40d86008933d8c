"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019): after each epoch, w_i = T * softmax(r / temp)_i
with r_i = L_i(t-1) / L_i(t-2), the ratio of task i's last two epoch-mean training losses: a task whose loss
fell least gets the most weight. The first two epochs use w_i = 1. Weights multiply the config's weights."""
import math

import tensorflow as tf

from trainer.weighting.base import LossWeighting


class DWA(LossWeighting):
    def __init__(self, tasks, training):
        super().__init__(tasks, training)
        self.temperature = float(training.setting("dwa_temperature"))
        self.relative = tf.Variable(tf.ones([len(self.task_names)]), trainable=False, name="relative")
        self.epoch_losses = []  # epoch-mean losses of the last two epochs (Python floats)

    def weights(self, losses):
        return self._as_dict(self._prior_vector() * self.relative)

    def end_epoch(self, epoch_losses):
        self.epoch_losses = (self.epoch_losses + [[float(epoch_losses[n]) for n in self.task_names]])[-2:]
        if len(self.epoch_losses) < 2:
            return
        before, last = self.epoch_losses
        ratios = [a / b if b > 0 else 1.0 for a, b in zip(last, before)]
        exps = [math.exp(r / self.temperature) for r in ratios]
        self.relative.assign([len(exps) * e / sum(exps) for e in exps])
