"""`mtl compile`: the Kubeflow v2 spec and the Airflow DAG hold create_pipeline's component graph, offline; the
Dockerfile builds the image those specs name."""
import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml
from click.testing import CliRunner
from google.protobuf import json_format

from conftest import DATA, REPO, load
from pipeline import config as cfg
from pipeline.cli import main
from pipeline.runners.kubeflow import CONTAINER_ROOT

IMAGE = "registry.example/tfx-mtl:test"
ROOT = "gs://bucket/tfx-mtl"
CONFIG = os.path.join(DATA, "census_sample", "config.yaml")


def tfx_graph(config):
    """{node id: sorted upstream node ids} of the pipeline `mtl run` would run."""
    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(config, pipeline_root="/unused", output="/unused")
    return {node.id: sorted(u.id for u in node.upstream_nodes) for node in pipeline.components}


def compile_(*args):
    os.chdir(REPO)
    result = CliRunner().invoke(main, ["compile", "--config", CONFIG, *args])
    return result


# ------------------------------------------------------------------------------------------- kubeflow
def kfp_node(task_id: str) -> str:
    """KFP splits the baseline Resolver into one resolver task per output channel."""
    return re.sub(r"-model(-blessing)?-resolver$", "", task_id)


def test_kubeflow_spec_has_every_component_dependency_and_the_image(tmp_path):
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = tmp_path / "census-sample.yaml"
    result = compile_("--target", "kubeflow", "--image", IMAGE, "--pipeline-root", ROOT, "--out", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    spec = json_format.ParseDict(yaml.safe_load(out.read_text()), pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "census-sample"
    assert spec.default_pipeline_root == ROOT

    expected = tfx_graph(load("census_sample/config.yaml"))
    tasks = spec.root.dag.tasks
    compiled = {}
    for task_id, task in tasks.items():
        compiled.setdefault(kfp_node(task_id), set()).update(kfp_node(d) for d in task.dependent_tasks)
    assert {n: sorted(d) for n, d in compiled.items()} == expected

    executors = spec.deployment_spec["executors"]
    containers = {name: e["container"] for name, e in executors.items() if "container" in e}
    resolvers = {"latest_blessed_model", "previous_statistics"}
    assert set(containers) == {f"{n}_executor" for n in expected if n not in resolvers}
    queries = {name: e["resolver"]["outputArtifactQueries"] for name, e in executors.items() if "resolver" in e}
    # never StatisticsGen's statistics (those of refused data too): TFX compiles a custom type's query to the
    # generic title; only the DriftGate writes a custom artifact type in this pipeline
    assert "tfx.ExampleStatistics" not in queries["previous_statistics_executor"]["statistics"]["filter"]
    for name, container in containers.items():
        assert container["image"] == IMAGE, name
        assert container["command"][-1] == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
    for beam_step in ("CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        assert "--direct_running_mode=in_memory" in containers[f"{beam_step}_executor"]["args"]
    # Relative config paths point into the image; user code is imported from the installed project.
    def parameter(task, name):
        return tasks[task].inputs.parameters[name].runtime_value.constant_value.string_value

    assert parameter("CsvExampleGen", "input_base") == f"{CONTAINER_ROOT}/tests/data/census_sample"
    assert parameter("ImportSchemaGen", "schema_file") == f"{CONTAINER_ROOT}/schema/census/schema.pbtxt"
    assert f"{ROOT}/serving/census-sample" in parameter("Pusher", "push_destination")
    assert "components.transform.preprocessing_fn" in out.read_text()
    assert "trainer.run.run_fn" in out.read_text()
    assert "is a local path" in result.stderr  # data not on shared storage: warned


def test_kubeflow_json_is_a_vertex_pipeline_job_and_config_settings_are_used(tmp_path):
    from kfp.pipeline_spec import pipeline_spec_pb2

    raw = yaml.safe_load(open(CONFIG))
    raw["orchestration"] = {"image": IMAGE, "pipeline_root": ROOT}
    raw["data"] = {"train": "gs://bucket/census/train.csv", "eval": "gs://bucket/census/eval.csv"}
    raw["beam_args"] = ["--runner=DataflowRunner", "--project=acme", "--region=europe-west4",
                        "--temp_location=gs://bucket/tmp"]
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "job.json"
    result = CliRunner().invoke(main, ["compile", "--config", str(config_path), "--target", "kubeflow",
                                                       "--out", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stderr == ""  # remote data and explicit beam_args: nothing to warn about
    job = json_format.Parse(out.read_text(), pipeline_spec_pb2.PipelineJob(), ignore_unknown_fields=True)
    assert job.display_name == "census-sample"
    text = out.read_text()
    assert "--runner=DataflowRunner" in text and IMAGE in text
    assert '"gs://bucket/census"' in text  # the split base of remote data is kept as a URI


@pytest.mark.parametrize("args, message", [
    (["--pipeline-root", ROOT], "no container image"),
    (["--image", IMAGE], "no pipeline root"),
    (["--image", IMAGE, "--pipeline-root", ROOT, "--out", "spec.txt"], "must end in .yaml"),
])
def test_kubeflow_compile_errors_name_the_missing_setting_and_write_nothing(tmp_path, args, message):
    args = [a if a != "spec.txt" else str(tmp_path / a) for a in args]
    result = compile_("--target", "kubeflow", *args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------------- airflow
DAGBAG = textwrap.dedent("""
    import json, sys
    from airflow.models import DagBag
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    dag = bag.dags.get(sys.argv[2])
    print(json.dumps({"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
                      "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} if dag else None,
                      "schedule": str(dag.timetable.summary) if dag else None, "max_active_runs": dag and dag.max_active_runs}))
""")


def test_airflow_dag_loads_in_a_dagbag_with_the_same_task_graph(tmp_path):
    dags = tmp_path / "dags"
    result = compile_("--target", "airflow", "--out", str(dags / "census_sample_dag.py"), "--schedule", "@daily")
    assert result.exit_code == 0, result.output + result.stderr
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="300", AIRFLOW__CORE__UNIT_TEST_MODE="True")
    env.pop("TF_USE_LEGACY_KERAS", None)  # the DAG file must set it itself
    proc = subprocess.run([sys.executable, "-c", DAGBAG, str(dags), "census-sample"], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bag = json.loads(proc.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    assert bag["dags"] == ["census-sample"]
    assert bag["tasks"] == tfx_graph(load("census_sample/config.yaml"))
    assert bag["schedule"] in ("@daily", "0 0 * * *") and bag["max_active_runs"] == 1


def test_airflow_dag_embeds_absolute_paths_and_the_staged_schema(tmp_path):
    out = tmp_path / "dag.py"
    result = compile_("--target", "airflow", "--out", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    source = out.read_text()
    spec = ast.literal_eval(source.split("SPEC = ", 1)[1].rsplit("\n\ndag = ", 1)[0])  # a plain Python literal
    assert spec["config"]["data"]["train"] == os.path.join(REPO, "tests/data/census_sample/train.csv")
    staged = spec["config"]["schema"]
    assert os.path.isabs(staged) and "/schemas/" in staged and os.path.isfile(staged)
    assert open(staged).read() == open(os.path.join(REPO, "schema/census/schema.pbtxt")).read()
    assert spec["schedule"] is None and spec["beam_args"][0] == "--direct_running_mode=in_memory"
    assert spec["metadata"].endswith("metadata.sqlite")


@pytest.mark.slow
def test_airflow_runs_the_dag_itself_to_a_pushed_model(tmp_path):
    """Airflow's own task runner executes the compiled DAG (`airflow dags test`, SQLite, a fresh AIRFLOW_HOME):
    every component's task succeeds in order and the Pusher publishes a blessed version, recorded in the run's
    MLMD (as README's Airflow section does it; the smallest full pipeline, ~45 s)."""
    from helpers.tiny_run import tiny_config

    config = tiny_config(tmp_path)
    dags = tmp_path / "dags"
    result = CliRunner().invoke(main, ["compile", "--config", str(config), "--target", "airflow",
                                       "--out", str(dags / "tiny_dag.py")])
    assert result.exit_code == 0, result.output + result.stderr
    start = re.search(r"'start_date': '(\d{4}-\d\d-\d\d)'", (dags / "tiny_dag.py").read_text()).group(1)
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(dags), AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="300")
    env.pop("TF_USE_LEGACY_KERAS", None)  # the DAG file must set it itself
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    run = subprocess.run([airflow, "dags", "test", "tiny", start], env=env, cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    succeeded = re.findall(r"Marking task as SUCCESS\. dag_id=tiny, task_id=(\w+)", log)
    expected = tfx_graph(cfg.load_config(str(config)))
    assert sorted(succeeded) == sorted(expected), log[-4000:]
    for task, upstream in expected.items():  # in dependency order
        assert all(succeeded.index(u) < succeeded.index(task) for u in upstream), succeeded
    assert "state=success" in log.splitlines()[-1] or "DagRun Finished: dag_id=tiny" in log
    output = yaml.safe_load(config.read_text())["output"]
    versions = [v for v in os.listdir(os.path.join(output, "serving", "tiny")) if v.isdigit()]
    assert len(versions) == 1 and os.path.isfile(os.path.join(output, "serving", "tiny", versions[0],
                                                              "saved_model.pb"))
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(output, "metadata.sqlite")
    pushed = metadata_store.MetadataStore(connection).get_artifacts_by_type("PushedModel")
    assert [a.custom_properties["pushed"].int_value for a in pushed] == [1]  # recorded in the run's MLMD
    blessing = metadata_store.MetadataStore(connection).get_artifacts_by_type("ModelBlessing")
    assert [a.custom_properties["blessed"].int_value for a in blessing] == [1]


def test_airflow_rejects_an_image_and_a_non_python_file(tmp_path):
    result = compile_("--target", "airflow", "--image", IMAGE, "--out", str(tmp_path / "dag.py"))
    assert result.exit_code != 0 and "--image is for --target kubeflow" in result.stderr
    result = compile_("--target", "airflow", "--out", str(tmp_path / "dag.txt"))
    assert result.exit_code != 0 and "must end in .py" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ Dockerfile
def dockerfile():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        return re.sub(r"\\\n\s*", " ", f.read())


def test_dockerfile_installs_the_lock_the_project_and_sets_legacy_keras():
    text = dockerfile()
    base = re.search(r"^FROM (\S+)", text, re.M).group(1)
    assert re.match(r"python:3\.10(\.\d+)?-slim", base)
    assert re.search(r"^ENV .*TF_USE_LEGACY_KERAS=1", text, re.M)
    assert re.search(r"^WORKDIR (\S+)", text, re.M).group(1) == CONTAINER_ROOT
    assert "-r requirements.lock" in text
    pin = re.search(r"kfp-pipeline-spec==(\S+)", text).group(1)
    assert f"kfp-pipeline-spec=={pin}\n" in open(os.path.join(REPO, "requirements-test.lock")).read()
    uv = re.search(r"uv==(\S+)", text).group(1)
    assert uv and "--no-deps ." in text
    copied = set(re.findall(r"^COPY (\S+) ", text, re.M))
    from setuptools import find_packages

    top_level = {p.split(".")[0] for p in find_packages(REPO, include=["pipeline*", "components*", "trainer*", "serving*"])}
    assert top_level <= copied  # every package the components import
    assert {"configs", "schema", "requirements.lock", "setup.py"} <= copied
    ignored = {line.strip() for line in open(os.path.join(REPO, ".dockerignore")) if line.strip()
               and not line.startswith("#")}
    assert not copied & ignored
