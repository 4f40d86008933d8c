"""Beam options: the config's beam_args win; otherwise the in-memory DirectRunner at every input size."""
import pytest

from conftest import load
from pipeline import beam


def test_default_is_in_memory_at_every_size():
    config = load("census_sample/config.yaml")
    assert beam.plan(config) == beam.IN_MEMORY
    large = load("census_sample/config.yaml", data={"train": "data/scale/1000000/train.csv"})
    assert beam.plan(large) == beam.IN_MEMORY  # the streaming ExampleGen keeps memory flat (bench/scale.py)
    assert "--direct_num_workers=0" in beam.MULTI_PROCESSING  # 0: one worker per core, for beam_args


def test_every_beam_component_gets_the_pipeline_args():
    from pipeline.pipeline import create_pipeline

    config = load("census_sample/config.yaml", beam_args=beam.MULTI_PROCESSING)
    pipeline = create_pipeline(config, pipeline_root="/unused", output="/unused")
    assert pipeline.beam_pipeline_args == beam.MULTI_PROCESSING
    beam_components = {c.id: list(c.executor_spec.beam_pipeline_args) for c in pipeline.components
                       if hasattr(c.executor_spec, "beam_pipeline_args")}
    assert {"CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"} <= set(beam_components)
    assert all(args == beam.MULTI_PROCESSING for args in beam_components.values())


def test_configured_beam_args_are_used_as_given():
    args = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    config = load("census_sample/config.yaml", beam_args=args)
    assert beam.plan(config) == args
    assert beam.describe(args) == "DataflowRunner"


@pytest.mark.parametrize("args, text", [
    (beam.IN_MEMORY, "DirectRunner in_memory, 1 worker(s)"),
    (beam.MULTI_PROCESSING, "DirectRunner multi_processing, one worker per core"),
])
def test_describe(args, text):
    assert beam.describe(args) == text
