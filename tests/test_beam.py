"""Beam options: the config's beam_args win; otherwise the DirectRunner mode follows the input size."""
import pytest

from conftest import load
from pipeline import beam


def test_default_is_in_memory_at_every_size():
    config = load("census_sample/config.yaml")
    assert beam.plan(config) == (beam.IN_MEMORY, {})
    large = load("census_sample/config.yaml", data={"train": "data/scale/1000000/train.csv"})
    assert beam.plan(large) == (beam.IN_MEMORY, {})  # the streaming ExampleGen keeps memory flat (bench/scale.py)
    assert "--direct_num_workers=0" in beam.MULTI_PROCESSING  # 0: one worker per core, for beam_args


def test_per_component_args_reach_only_those_components_and_win():
    from pipeline.pipeline import create_pipeline

    config = load("census_sample/config.yaml")
    args = beam.plan(config)[0]
    per_component = {"StatisticsGen": beam.MULTI_PROCESSING, "Evaluator": beam.MULTI_PROCESSING}
    pipeline = create_pipeline(config, pipeline_root="/unused", output="/unused", beam_args=args,
                               component_beam_args=per_component)
    modes = {c.id: beam.describe(list(c.executor_spec.beam_pipeline_args)) for c in pipeline.components
             if hasattr(c.executor_spec, "beam_pipeline_args")}
    assert modes["StatisticsGen"] == modes["Evaluator"] == "DirectRunner multi_processing, one worker per core"
    assert modes["Transform"] == modes["CsvExampleGen"] == "DirectRunner in_memory, 1 worker(s)"
    assert beam.describe_plan(args, per_component) == (
        "DirectRunner multi_processing, one worker per core for StatisticsGen, Evaluator; "
        "DirectRunner in_memory, 1 worker(s) for the rest")


def test_input_bytes_sums_every_file_a_glob_matches(tmp_path):
    for name, size in (("a.csv", 100), ("b.csv", 50)):
        (tmp_path / name).write_bytes(b"x" * size)
    config = load("census_sample/config.yaml", data={"train": str(tmp_path / "*.csv")})
    assert beam.input_bytes(config) == 150


def test_configured_beam_args_are_used_as_given():
    args = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    config = load("census_sample/config.yaml", beam_args=args)
    assert beam.plan(config) == (args, {})
    assert beam.describe(args) == "DataflowRunner"


def test_remote_input_is_not_measured():
    config = load("census_sample/config.yaml", data={"train": "gs://bucket/train-*.csv", "eval": "gs://bucket/e.csv"})
    assert beam.input_bytes(config) is None
    assert beam.beam_args(config) == beam.IN_MEMORY


@pytest.mark.parametrize("args, text", [
    (beam.IN_MEMORY, "DirectRunner in_memory, 1 worker(s)"),
    (beam.MULTI_PROCESSING, "DirectRunner multi_processing, one worker per core"),
])
def test_describe(args, text):
    assert beam.describe(args) == text
