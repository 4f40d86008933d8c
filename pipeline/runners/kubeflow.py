"""Compile a config's pipeline to a Kubeflow Pipelines v2 spec (KubeflowV2DagRunner). Needs the `kubeflow` extra
(kfp-pipeline-spec); compiling is offline and runs nothing.

Every step runs in one image built from the project's Dockerfile, which holds the installed project, its
configs and curated schemas under CONTAINER_ROOT. Relative paths in the config are resolved there. Data
should be on storage every pod can read (gs://, s3://, a mounted volume): a local data path is rewritten into
the image and reported as a warning.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from typing import List, Optional, Tuple

from pipeline import beam
from pipeline import config as cfg

CONTAINER_ROOT = "/app"


class CompileError(ValueError):
    """A setting needed to compile for an orchestrator is missing or unusable."""


def in_container(path: str, root: str = CONTAINER_ROOT) -> str:
    """Where a config path is found inside the component image."""
    if cfg.is_uri(path) or posixpath.isabs(path):
        return path
    return posixpath.normpath(posixpath.join(root, path))


def container_config(config: cfg.Config) -> Tuple[cfg.Config, List[str]]:
    """The config with data and schema paths as the pods see them, and a warning per local data path."""
    warnings = []
    data = {}
    for split in ("train", "eval"):
        path = getattr(config.data, split)
        if path is None:
            continue
        data[split] = in_container(path)
        if not cfg.is_uri(path):
            warnings.append(f"data.{split} '{path}' is a local path: the pods read {data[split]}, which exists only "
                            "if it is baked into the image or mounted there; shared storage (gs://, s3://) is safer")
    update = {"data": config.data.model_copy(update=data)}
    if config.schema_path:
        update["schema_path"] = in_container(config.schema_path)
    if config.inference:
        path = config.inference.data
        update["inference"] = config.inference.model_copy(update={"data": in_container(path)})
        if not cfg.is_uri(path):
            warnings.append(f"inference.data '{path}' is a local path: the pods read {in_container(path)}, which "
                            "exists only if it is baked into the image or mounted there")
    return config.model_copy(update=update), warnings


def _set_default_root(path: str, root: str) -> None:
    """TFX leaves PipelineSpec.defaultPipelineRoot empty (a PipelineJob carries the root in its runtime config):
    set it, so that a run started from the uploaded YAML writes where the config says."""
    import yaml

    with open(path, encoding="utf-8") as f:
        text = f.read()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    spec = yaml.safe_load(text)
    spec["defaultPipelineRoot"] = root
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + yaml.safe_dump(spec, sort_keys=True))


def compile_pipeline(config: cfg.Config, out: str, *, image: Optional[str] = None,
                     pipeline_root: Optional[str] = None) -> List[str]:
    """Write the KFP v2 spec to `out` (.yaml: PipelineSpec, what the KFP UI/client uploads; .json: PipelineJob,
    what Vertex AI Pipelines submits). Returns warnings. The file is written whole or not at all. Every missing
    setting is reported at once, before TFX is imported (that alone takes ~20 s)."""
    image = image or config.orchestration.image
    root = pipeline_root or config.orchestration.pipeline_root
    problems = []
    if not image:
        problems.append("no container image: set orchestration.image in the config or pass --image (build it from "
                        "the project's Dockerfile)")
    if not root:
        problems.append("no pipeline root: set orchestration.pipeline_root in the config or pass --pipeline-root "
                        "(storage every step can reach, e.g. gs://bucket/tfx-mtl)")
    if not out.endswith((".yaml", ".yml", ".json")):
        problems.append(f"output file must end in .yaml (PipelineSpec) or .json (PipelineJob): {out}")
    if problems:
        raise CompileError("kubeflow: " + problems[0] if len(problems) == 1
                           else "kubeflow:\n" + "\n".join(f"  - {p}" for p in problems))
    try:
        from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_runner
    except ImportError as exc:
        raise CompileError(f"compiling for Kubeflow needs the kubeflow extra: pip install '.[kubeflow]' ({exc})") \
            from None
    from pipeline.pipeline import create_pipeline

    pod_config, warnings = container_config(config)
    args = beam.plan(config)
    if config.beam_args is None:
        warnings.append(f"beam_args not set: the data steps and the Evaluator run Beam's {beam.describe(args)} "
                        "inside their pods; set beam_args for a Dataflow/Flink/Spark cluster on large data")
    pipeline = create_pipeline(pod_config, pipeline_root=root, output=root, beam_args=args)
    runner_config = kfp_runner.KubeflowV2DagRunnerConfig(default_image=image, display_name=config.name)
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".compile-", dir=os.path.dirname(out))
    try:
        kfp_runner.KubeflowV2DagRunner(runner_config, output_dir=staging,
                                       output_filename=os.path.basename(out)).run(pipeline)
        written = os.path.join(staging, os.path.basename(out))
        if not out.endswith(".json"):
            _set_default_root(written, root)
        os.replace(written, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return warnings
