"""GradNorm (Chen et al., ICML 2018): learn task weights w so that each task's weighted gradient norm at the
last shared layer, G_i = w_i * ||grad L_i||, approaches mean(G) * r_i ** alpha, where r_i is task i's loss
ratio L_i(t) / L_i(0) relative to the mean ratio: a task whose loss falls slowest gets a larger weight.

The weights start at the config's weights renormalized to sum to T (the number of tasks), take one Adam
step (training.learning_rate) per training step on the GradNorm loss sum_i |G_i - target_i| (targets held
constant), and are renormalized to sum to T again. d|G_i - target_i| / dw_i = sign(G_i - target_i) * ||grad L_i||.
"""
import tensorflow as tf
import tf_keras

from trainer.weighting.base import LossWeighting

MIN_WEIGHT = 1e-3


class GradNorm(LossWeighting):
    needs_gradient_norms = True

    def __init__(self, tasks, training):
        super().__init__(tasks, training)
        count = len(self.task_names)
        self.alpha = float(training.setting("gradnorm_alpha"))
        # Every replica computes the same update from replica-averaged losses and norms, so the first
        # replica's write stands for all (tf.distribute).
        same = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.task_weights = tf.Variable(self._normalized_prior(), trainable=False, name="task_weights",
                                        aggregation=same)
        self.initial_losses = tf.Variable(tf.ones([count]), trainable=False, name="initial_losses", aggregation=same)
        self.started = tf.Variable(False, trainable=False, name="started", aggregation=same)
        self.optimizer = tf_keras.optimizers.Adam(learning_rate=training.learning_rate)

    def weights(self, losses):
        return self._as_dict(tf.identity(self.task_weights))

    def update(self, losses, gradient_norms):
        loss = tf.stack([tf.stop_gradient(losses[n]) for n in self.task_names])
        norms = tf.stack([tf.stop_gradient(gradient_norms[n]) for n in self.task_names])
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:  # norms are of averaged gradients already
            loss = context.all_reduce(tf.distribute.ReduceOp.MEAN, loss)
        # L_i(0): the losses of the first step. Written unconditionally (no tf.cond): a replica-context variable
        # write synchronizes, which tf.distribute does not allow inside control flow.
        self.initial_losses.assign(tf.where(self.started, self.initial_losses, tf.maximum(loss, 1e-12)))
        self.started.assign(True)
        ratio = loss / self.initial_losses
        relative = ratio / tf.reduce_mean(ratio)
        weighted_norms = self.task_weights * norms
        target = tf.reduce_mean(weighted_norms) * relative ** self.alpha
        gradient = tf.sign(weighted_norms - target) * norms
        self.optimizer.apply_gradients([(gradient, self.task_weights)], skip_gradients_aggregation=True)
        clipped = tf.maximum(self.task_weights, MIN_WEIGHT)
        self.task_weights.assign(clipped * len(self.task_names) / tf.reduce_sum(clipped))
