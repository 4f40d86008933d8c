"""`mtl deploy`: TF Serving deployment files that parse as TF Serving's own config protos and agree with each
other (model name, base path, ports, config file names)."""
import os

import yaml
from click.testing import CliRunner
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import config as cfg
from pipeline.cli import main
from serving import deploy

from conftest import REPO


def test_deploy_writes_consistent_tf_serving_files(tmp_path):
    config = cfg.load_config(os.path.join(REPO, "configs", "support.yaml"))
    result = CliRunner().invoke(main, ["deploy", "--config", os.path.join(REPO, "configs", "support.yaml"),
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    server_config = text_format.Parse((tmp_path / "models.config").read_text(),
                                      model_server_config_pb2.ModelServerConfig())
    [model] = server_config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("support", "/models/support", "tensorflow")
    assert model.model_version_policy.latest.num_versions == 1
    batching = (tmp_path / "batching.config").read_text()
    assert {line.split(" {")[0] for line in batching.splitlines()} == {
        "max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
    assert deploy.METRICS_PATH in (tmp_path / "monitoring.config").read_text()

    service = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())["services"]["support-serving"]
    assert service["image"] == "tensorflow/serving:2.16.1" and service["entrypoint"] == ["tensorflow_model_server"]
    assert service["ports"] == ["8500:8500", "8501:8501"]
    pusher = os.path.abspath(os.path.join(config.output_dir, "serving", "support"))
    assert f"{pusher}:/models/support:ro" in service["volumes"]
    referenced = [a.split("=", 1)[1] for a in service["command"] if a.endswith(".config")]
    assert {os.path.basename(p) for p in referenced} == {"models.config", "batching.config", "monitoring.config"}
    assert all((tmp_path / os.path.basename(p)).is_file() for p in referenced)

    k8s = {name: yaml.safe_load((tmp_path / "k8s" / name).read_text())
           for name in ("configmap.yaml", "deployment.yaml", "service.yaml")}
    assert k8s["configmap.yaml"]["data"]["models.config"] == (tmp_path / "models.config").read_text()
    container = k8s["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models/support", "port": 8501}
    assert container["args"] == service["command"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/config", "/models/support"}
    assert {(p["name"], p["port"]) for p in k8s["service.yaml"]["spec"]["ports"]} == {("grpc", 8500), ("rest", 8501)}
    assert k8s["service.yaml"]["spec"]["selector"] == k8s["deployment.yaml"]["spec"]["selector"]["matchLabels"]
