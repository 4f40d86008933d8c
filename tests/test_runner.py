"""Local runner set-up that needs no pipeline run."""
import os

from pipeline import config as cfg
from pipeline.runners.local import stage_schema


def _config(schema_path):
    return cfg.parse_config({"name": "s", "data": {"train": "x.csv"}, "schema": str(schema_path),
                             "features": {"a": {"type": "numeric"}}, "tasks": {"t": {"type": "regression",
                                                                                     "label": "y"}}})


def test_edited_schema_gets_a_new_staged_path(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "a" type: FLOAT }\n')
    first = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    again = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    schema.write_text('feature { name: "a" type: INT }\n')
    edited = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    assert first == again != edited
    assert open(first).read() != open(edited).read() == schema.read_text()


def test_config_without_schema_is_unchanged(tmp_path):
    config = cfg.parse_config({"name": "s", "data": {"train": "x.csv"}, "features": {"a": {"type": "numeric"}},
                               "tasks": {"t": {"type": "regression", "label": "y"}}})
    assert stage_schema(config, str(tmp_path)) is config
    assert not os.listdir(tmp_path)
