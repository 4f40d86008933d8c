"""Deployment files for stock TensorFlow Serving, generated from a pipeline config (`mtl deploy`).

    <out>/models.config        ModelServerConfig: model name = config `name`, base path, serve the newest version
    <out>/batching.config      BatchingParameters for --enable_batching
    <out>/monitoring.config    MonitoringConfig: Prometheus metrics at /monitoring/prometheus/metrics
    <out>/docker-compose.yml   tensorflow/serving pinned to the TF Serving release of this stack, the Pusher
                               directory mounted read-only, ports 8500 (gRPC) and 8501 (REST)
    <out>/k8s/{configmap,deployment,service}.yaml
                               the same server on Kubernetes: configs from a ConfigMap, models from a
                               PersistentVolumeClaim (copy the Pusher directory there), readiness on
                               /v1/models/<name>, Service exposing 8500/8501

TF Serving polls the base path: a version the Pusher writes later is loaded without a restart.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import yaml

from pipeline import config as cfg

IMAGE = "tensorflow/serving:2.16.1"  # the TF Serving release matching tensorflow 2.16 / tensorflow-serving-api 2.16.1
GRPC_PORT, REST_PORT = 8500, 8501
METRICS_PATH = "/monitoring/prometheus/metrics"


def models_config(name: str, base_path: str, versions: int = 1) -> str:
    return f"""model_config_list {{
  config {{
    name: "{name}"
    base_path: "{base_path}"
    model_platform: "tensorflow"
    model_version_policy {{
      latest {{
        num_versions: {versions}
      }}
    }}
  }}
}}
"""


def batching_config(max_batch: int = 64, timeout_micros: int = 2000, threads: int = 4, queue: int = 100) -> str:
    return (f"max_batch_size {{ value: {max_batch} }}\nbatch_timeout_micros {{ value: {timeout_micros} }}\n"
            f"max_enqueued_batches {{ value: {queue} }}\nnum_batch_threads {{ value: {threads} }}\n")


def monitoring_config() -> str:
    return f'prometheus_config {{\n  enable: true\n  path: "{METRICS_PATH}"\n}}\n'


def server_args(config_dir: str) -> list:
    return [f"--port={GRPC_PORT}", f"--rest_api_port={REST_PORT}",
            f"--model_config_file={config_dir}/models.config", "--model_config_file_poll_wait_seconds=60",
            "--file_system_poll_wait_seconds=5", "--enable_batching",
            f"--batching_parameters_file={config_dir}/batching.config",
            f"--monitoring_config_file={config_dir}/monitoring.config"]


def compose(name: str, pusher_dir: str) -> Dict:
    return {"services": {f"{name}-serving": {
        "image": IMAGE,
        "entrypoint": ["tensorflow_model_server"],  # the image's entrypoint would add --model_name/--model_base_path
        "command": server_args("/config"),
        "ports": [f"{GRPC_PORT}:{GRPC_PORT}", f"{REST_PORT}:{REST_PORT}"],
        "volumes": [f"{pusher_dir}:/models/{name}:ro", "./:/config:ro"],
        "healthcheck": {"test": ["CMD-SHELL", f"bash -c 'echo > /dev/tcp/localhost/{REST_PORT}'"],
                        "interval": "10s", "retries": 6},
        "restart": "unless-stopped"}}}


def kubernetes(name: str, files: Dict[str, str]) -> Dict[str, Dict]:
    labels = {"app": f"{name}-serving"}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-serving-config"},
                 "data": files}
    container = {
        "name": "tensorflow-serving", "image": IMAGE, "command": ["tensorflow_model_server"],
        "args": server_args("/config"),
        "ports": [{"name": "grpc", "containerPort": GRPC_PORT}, {"name": "rest", "containerPort": REST_PORT}],
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{name}", "port": REST_PORT},
                           "initialDelaySeconds": 5, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": GRPC_PORT}, "initialDelaySeconds": 15, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/config"},
                         {"name": "models", "mountPath": f"/models/{name}", "readOnly": True}]}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{name}-serving", "labels": labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels, "annotations": {"prometheus.io/scrape": "true",
                                                           "prometheus.io/path": METRICS_PATH,
                                                           "prometheus.io/port": str(REST_PORT)}},
            "spec": {"containers": [container], "volumes": [
                {"name": "config", "configMap": {"name": f"{name}-serving-config"}},
                {"name": "models", "persistentVolumeClaim": {"claimName": f"{name}-models", "readOnly": True}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-serving", "labels": labels},
               "spec": {"selector": labels, "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT},
                                                      {"name": "rest", "port": REST_PORT, "targetPort": REST_PORT}]}}
    return {"configmap.yaml": configmap, "deployment.yaml": deployment, "service.yaml": service}


def write_deployment(config: cfg.Config, out_dir) -> Dict[str, Path]:
    """Write every file under `out_dir`; return name -> path."""
    out = Path(out_dir)
    (out / "k8s").mkdir(parents=True, exist_ok=True)
    pusher_dir = os.path.abspath(cfg.serving_dir(config, config.output_dir))
    files = {"models.config": models_config(config.name, f"/models/{config.name}"),
             "batching.config": batching_config(), "monitoring.config": monitoring_config()}
    written = {}
    for name, text in files.items():
        (out / name).write_text(text)
        written[name] = out / name
    (out / "docker-compose.yml").write_text(yaml.safe_dump(compose(config.name, pusher_dir), sort_keys=False))
    written["docker-compose.yml"] = out / "docker-compose.yml"
    for name, manifest in kubernetes(config.name, files).items():
        (out / "k8s" / name).write_text(yaml.safe_dump(manifest, sort_keys=False))
        written[f"k8s/{name}"] = out / "k8s" / name
    return written
