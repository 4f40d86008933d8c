"""Beam options: the config's beam_args win; otherwise the DirectRunner mode follows the input size."""
import pytest

from conftest import load
from pipeline import beam


def test_small_input_runs_in_memory_and_large_input_scales_out_the_per_row_components():
    config = load("census_sample/config.yaml")
    assert beam.input_bytes(config) < beam.SWITCH_BYTES
    assert beam.plan(config) == (beam.IN_MEMORY, {})
    assert beam.plan(config, data_bytes=beam.SWITCH_BYTES - 1, cores=8) == (beam.IN_MEMORY, {})
    args, per_component = beam.plan(config, data_bytes=beam.SWITCH_BYTES, cores=2)
    assert args == beam.IN_MEMORY and set(per_component) == {"CsvExampleGen", "StatisticsGen", "Evaluator"}
    assert "Transform" not in per_component and all(a == beam.MULTI_PROCESSING for a in per_component.values())
    assert beam.plan(config, data_bytes=10 ** 12, cores=1) == (beam.IN_MEMORY, {})  # one core: nothing to gain
    assert "--direct_num_workers=0" in beam.MULTI_PROCESSING  # 0: one worker per core


def test_per_component_args_reach_only_those_components_and_win():
    from pipeline.pipeline import create_pipeline

    config = load("census_sample/config.yaml")
    args, per_component = beam.plan(config, data_bytes=beam.SWITCH_BYTES, cores=2)
    pipeline = create_pipeline(config, pipeline_root="/unused", output="/unused", beam_args=args,
                               component_beam_args=per_component)
    modes = {c.id: beam.describe(list(c.executor_spec.beam_pipeline_args)) for c in pipeline.components
             if hasattr(c.executor_spec, "beam_pipeline_args")}
    assert modes["CsvExampleGen"] == modes["StatisticsGen"] == modes["Evaluator"] == (
        "DirectRunner multi_processing, one worker per core")
    assert modes["Transform"] == "DirectRunner in_memory, 1 worker(s)"
    assert beam.describe_plan(args, per_component) == (
        "DirectRunner multi_processing, one worker per core for CsvExampleGen, StatisticsGen, Evaluator; "
        "DirectRunner in_memory, 1 worker(s) for the rest")
    tfrecords = load("census_sample/config.yaml", data={"train": "x/*.tfrecord.gz"})
    assert "ImportExampleGen" in beam.plan(tfrecords, data_bytes=beam.SWITCH_BYTES, cores=2)[1]


def test_input_bytes_sums_every_file_a_glob_matches(tmp_path):
    for name, size in (("a.csv", 100), ("b.csv", 50)):
        (tmp_path / name).write_bytes(b"x" * size)
    config = load("census_sample/config.yaml", data={"train": str(tmp_path / "*.csv")})
    assert beam.input_bytes(config) == 150


def test_configured_beam_args_are_used_as_given():
    args = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    config = load("census_sample/config.yaml", beam_args=args)
    assert beam.plan(config, data_bytes=10 ** 12) == (args, {})
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
