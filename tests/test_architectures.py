"""Every architecture on every task type: builds, trains a few steps, logs its gates, and exports a SavedModel
that a TensorFlow-only process serves from raw tf.Examples. Data: the four-task fixture through real TFT."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer import export
from trainer.architectures import REGISTRY
from trainer.inputs import input_keys
from trainer.model import Vocabularies, build_model
from trainer.run import EpochLog, GateUsage

from helpers.four_tasks import FIXTURE, ROWS, SPEC, config_for, dataset, serialize, transform_output  # noqa: F401

# ESMM and AITM need funnel tasks (a product task, an `after` chain of binary tasks): tests/test_funnel_model.py.
SHARED = sorted(set(REGISTRY) - {"esmm", "aitm"})


@pytest.fixture(scope="module")
def exported(transform_output, tmp_path_factory):
    """{architecture: (config, export dir, history)} after 3 epochs on the fixture."""
    tf_transform_output, rows = transform_output
    found = {}
    for architecture in SHARED:
        config = config_for(architecture)
        vocabularies = Vocabularies.from_transform_output(config, tf_transform_output)
        data = dataset(config, tf_transform_output, rows)
        model = build_model(config, vocabularies)
        history_path = str(tmp_path_factory.mktemp(architecture) / "history.json")
        model.fit(data, epochs=3, verbose=0, callbacks=[EpochLog(config.tasks, history_path, GateUsage(model, data))])
        directory = str(tmp_path_factory.mktemp(architecture) / "model")
        export.export(model, tf_transform_output, directory)
        found[architecture] = (config, directory, json.load(open(history_path)), model)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("architecture", SHARED)
def test_trains_and_logs(exported, architecture):
    config, _, history, model = exported[architecture]
    assert history[-1]["loss"] < history[0]["loss"]
    gates = history[-1]["gates"]
    if architecture in ("mmoe", "ple", "cgc"):
        task_gates = {n for n in gates if not n.startswith("shared_")}
        assert len(task_gates) == len(config.tasks) * (config.model.setting("levels") if architecture == "ple" else 1)
        for weights in gates.values():
            assert sum(weights) == pytest.approx(1.0, abs=1e-3) and all(w >= 0 for w in weights)
        if architecture == "mmoe":
            assert all(len(w) == config.model.setting("experts") for w in gates.values())
    elif architecture == "cross_stitch":
        assert set(gates) == {f"cross_stitch_{i}" for i in range(len(config.model.shared_units))}
        alpha = np.array(gates["cross_stitch_0"])
        assert alpha.shape == (4, 4) and not np.allclose(alpha, np.full((4, 4), 0.1 / 3) + np.eye(4) * (0.9 - 0.1 / 3))
    else:
        assert gates == {}
    assert model.last_shared_variables(), "GradNorm needs somewhere to measure gradient norms"


SERVE_ALL = r"""
import json, sys
import tensorflow as tf
examples = tf.constant([bytes.fromhex(h) for h in json.loads(sys.argv[1])])
answers = {}
for name, directory in json.loads(sys.argv[2]).items():
    out = tf.saved_model.load(directory).signatures["serving_default"](examples=examples)
    answers[name] = {k: v.numpy().tolist() if v.dtype != tf.string else [x.decode() for x in v.numpy().ravel()]
                     for k, v in out.items()}
foreign = sorted(m for m in sys.modules if m.split(".")[0] in ("tfx", "tensorflow_transform", "tf_keras", "trainer"))
print(json.dumps({"answers": answers, "foreign": foreign}))
"""


@pytest.mark.slow
def test_every_architecture_serves_raw_examples_in_a_tensorflow_only_process(exported, transform_output):
    _, rows = transform_output
    features = ("message", "tier", "account_months")
    examples = [serialize(r, features) for r in rows[:8]]
    directories = {name: directory for name, (_, directory, _, _) in exported.items()}
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", SERVE_ALL, json.dumps([e.hex() for e in examples]),
                             json.dumps(directories)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["foreign"] == []
    for architecture, outputs in answer["answers"].items():
        assert set(outputs) == {"escalate", "escalate_label", "intent", "intent_label", "keywords",
                                "keywords_label", "minutes"}, architecture
        assert all(abs(sum(p) - 1) < 1e-4 for p in outputs["intent"]) and len(outputs["intent"]) == 8
        assert set(outputs["intent_label"]) <= {"refund", "delivery", "account"}
        assert all(len(p) == 4 for p in outputs["keywords"]) and all(len(m) == 1 for m in outputs["minutes"])
        # The served scores are the trained model's scores on the same rows (same graph, same weights).
        config, _, _, model = exported[architecture]
        tf_transform_output = transform_output[0]
        transformed = tf_transform_output.transform_features_layer()(
            tf.io.parse_example([serialize(r, SPEC) for r in rows[:8]], tf_transform_output.raw_feature_spec()))
        expected = model({k: transformed[k] for k in input_keys(config)}, training=False)
        np.testing.assert_allclose(outputs["intent"], expected["intent"].numpy(), rtol=1e-4, atol=1e-5)


def test_architecture_options_are_checked_against_the_architecture():
    with pytest.raises(cfg.ConfigError, match="model.experts: only mmoe uses this option"):
        config_for("ple", experts=4)
    assert config_for("ple", levels=3).model.setting("levels") == 3
    assert config_for("mmoe").model.setting("experts") == 8 and config_for("mmoe").model.expert_layers == [32]


def test_a_single_expert_still_has_a_logged_gate():
    """mmoe with one expert: the gate is part of the model (weight 1.0), so gate logging and export work."""
    from helpers.tiny_trainer import CONFIG, VOCABS, batch

    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["model"] = {**raw["model"], "architecture": "mmoe", "experts": 1}
    model = build_model(cfg.parse_config(raw), VOCABS)
    usage = GateUsage(model, tf.data.Dataset.from_tensors(batch()))()
    assert usage == {f"{task}_gate": [1.0] for task in CONFIG.tasks}
