"""Run as a script (a fresh process: logical devices must be set before TensorFlow starts): train the test model
with each loss weighting on one device and under MirroredStrategy on two logical CPUs from the same initial
weights, and print JSON: replicas, and per variant the largest weight difference and both final losses."""
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tf_keras  # noqa: E402

from pipeline import config as cfg  # noqa: E402
from helpers.tiny_trainer import CONFIG, VOCABS  # noqa: E402
from trainer.model import build_model  # noqa: E402

VARIANTS = {
    "fixed": {},
    "uncertainty": {"loss_weighting": "uncertainty"},
    "gradnorm": {"loss_weighting": "gradnorm"},
    "dwa": {"loss_weighting": "dwa"},
    "pcgrad": {"gradient_surgery": "pcgrad"},
    "clipnorm+task_lr": {"clipnorm": 0.5},
}
ROWS, BATCH, EPOCHS = 64, 8, 3


def dataset():
    rng = np.random.default_rng(1)
    age = rng.normal(size=ROWS).astype("float32")
    city = rng.integers(0, 3, ROWS)
    features = {"age": age, "age__missing": np.zeros(ROWS, "float32"), "city": city,
                "msg": rng.integers(0, 6, (ROWS, 3))}
    targets = {"churn": (age > 0).astype("int64"), "intent": city.astype("int64"),
               "keywords": (rng.random((ROWS, 2)) < 0.5).astype("int64") * np.array([0, 1]) - (rng.random((ROWS, 2)) < 0.5),
               "minutes": (2 * age + rng.normal(size=ROWS) * 0.1).astype("float32")}
    masks = {name: np.ones(ROWS, "float32") for name in CONFIG.tasks}
    data = tf.data.Dataset.from_tensor_slices((features, targets, masks)).batch(BATCH)

    def sparse_keywords(f, t, m):  # the Transform output's multilabel target is sparse (label ids, -1 = none)
        dense = t["keywords"]
        t = dict(t, keywords=tf.sparse.from_dense(dense))
        return f, t, m
    return data.map(sparse_keywords)


def config_for(options):
    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["training"] = {**raw["training"], **options, "batch_size": BATCH}
    if "clipnorm" in options:
        raw["tasks"]["minutes"]["learning_rate"] = 0.02
    return cfg.parse_config(raw)


def train(config, initial, strategy=None):
    scope = strategy.scope() if strategy else tf.distribute.get_strategy().scope()
    with scope:
        model = build_model(config, VOCABS)
    model.set_weights(initial)
    history = model.fit(dataset(), epochs=EPOCHS, verbose=0).history
    return model, history


def state(model, values=None):
    """Trainable weights and loss-weighting state (metric accumulators differ by design: per replica)."""
    if values is not None:
        model = build_model(model.mtl_config, VOCABS)
        model.set_weights(values)
    return [v.numpy() for v in model.trainable_weights] + [v.numpy() for v in model.weighting.variables]


def max_gap(a, b):
    return max(float(np.max(np.abs(np.asarray(x, "float64") - np.asarray(y, "float64")))) for x, y in zip(a, b))


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync, "variants": {}}
    for name, options in VARIANTS.items():
        config = config_for(options)
        tf_keras.utils.set_random_seed(3)
        initial = build_model(config, VOCABS).get_weights()
        single, h1 = train(config, initial)
        mirrored, h2 = train(config, initial, strategy)
        gap = max_gap(state(single), state(mirrored))
        moved = max_gap(state(single, initial), state(mirrored))
        weights = {t: h2[f"{t}_weight"][-1] for t in config.tasks}
        report["variants"][name] = {"max_weight_gap": gap, "moved": moved, "loss_single": h1["loss"],
                                    "loss_mirrored": h2["loss"], "task_weights": weights,
                                    "weighting_state": [v.numpy().tolist() for v in mirrored.weighting.variables]}
    # multi_worker with no TF_CONFIG: one local worker (a cluster is not available here); same updates again.
    config = config_for({"loss_weighting": "gradnorm"})
    tf_keras.utils.set_random_seed(3)
    initial = build_model(config, VOCABS).get_weights()
    single, h1 = train(config, initial)
    worker, h2 = train(config, initial, tf.distribute.MultiWorkerMirroredStrategy())
    report["multi_worker"] = {"max_weight_gap": max_gap(state(single), state(worker)),
                              "moved": max_gap(state(single, initial), state(worker))}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
