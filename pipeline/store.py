"""The one reader of an output directory's MLMD database: opening it read-only, contexts, executions' outputs
and inputs, and their JSON properties. Nothing here writes to the database, and nothing above MLMD's own
records (runs, metrics, rendering) lives here: pipeline/records.py builds on it."""
from __future__ import annotations

import json
import os
import re
from typing import Dict, Optional

STATES = {1: "NEW", 2: "RUNNING", 3: "COMPLETE", 4: "FAILED", 5: "CACHED", 6: "CANCELED"}  # Execution.State


class HistoryError(RuntimeError):
    """No database, or not an MLMD database, or no such run."""


def shown_id(context_name: str) -> str:
    """A run's id as the project spells it everywhere (output, `mtl runs`, `--run-id`, report folders): the
    pipeline_run context name with ':' made '-'. LocalDagRunner names a run by its ISO start time
    ('2026-01-02T13:04:08.123456'); '2026-01-02T13-04-08.123456' is a plain folder name on every file system."""
    return context_name.replace(":", "-")


def read_only_store(metadata_path: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)


def open_store(metadata_path: str):
    """A read-only MLMD store; HistoryError when the file is missing or is not an MLMD database."""
    if not os.path.isfile(metadata_path):
        raise HistoryError(f"no ML Metadata database at {metadata_path} (no pipeline has run with this output)")
    try:
        store = read_only_store(metadata_path)
        store.get_context_types()
    except Exception as exc:  # ml_metadata raises its own errors (and RuntimeError) for a foreign file
        found = re.search(r"executing query: (.+?) query:", str(exc))  # SQLite's words, not MLMD's DDL
        reason = found.group(1) if found else str(exc)[:200]
        if "attempt to write a readonly database" in reason:  # read-only MLMD found no schema and could not add one
            reason = "an SQLite file without ML Metadata's tables: another program's database, or an empty one"
        raise HistoryError(f"{metadata_path} is not a readable ML Metadata database ({reason})") from None
    return store


def context_type_id(store, name: str) -> Optional[int]:
    for context_type in store.get_context_types():
        if context_type.name == name:
            return context_type.id
    return None


def outputs_of(store, execution_id: int, internal: bool = False) -> Dict[str, list]:
    """{output key: [artifacts]} of one execution; internal=True counts INTERNAL_OUTPUT events too, which is
    how TFX records what a Resolver node resolved (execution_publish_utils.publish_internal_execution)."""
    from ml_metadata.proto import metadata_store_pb2

    kinds = {metadata_store_pb2.Event.OUTPUT} | ({metadata_store_pb2.Event.INTERNAL_OUTPUT} if internal else set())
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in kinds]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    by_key: Dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        by_key.setdefault(key, []).append(artifacts[event.artifact_id])
    return by_key


def input_artifact_id(store, execution_id: int, key: str) -> Optional[int]:
    """Id of an execution's input artifact under `key` (inputs are recorded even when the execution fails)."""
    from ml_metadata.proto import metadata_store_pb2

    return next((e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
                 if e.type == metadata_store_pb2.Event.INPUT and e.path.steps and e.path.steps[0].key == key), None)


def input_uri(store, execution_id: int, key: str) -> Optional[str]:
    artifact = input_artifact_id(store, execution_id, key)
    return store.get_artifacts_by_id([artifact])[0].uri if artifact is not None else None


def execution(store, execution_id: int):
    return store.get_executions_by_id([execution_id])[0]


def string_property(execution, name: str) -> Optional[str]:
    """A custom string property of an execution (TFX stores exec properties there), None when unset or empty."""
    value = execution.custom_properties.get(name)
    return value.string_value if value is not None and value.string_value else None


def json_property(execution, name: str):
    """A custom property holding JSON, parsed; None when unset or not JSON."""
    raw = string_property(execution, name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def first_run_of(store, execution_id: int) -> Optional[str]:
    """The shown id of the earliest pipeline_run an execution belongs to (a cached one belongs to several)."""
    run_type = context_type_id(store, "pipeline_run")
    runs = [c for c in store.get_contexts_by_execution(execution_id) if c.type_id == run_type]
    return shown_id(min(runs, key=lambda c: c.create_time_since_epoch).name) if runs else None
