"""Loading a config: YAML (safe, duplicate keys refused) -> `Config`, with every pydantic error rewritten as one
line naming the key path, the value and what was expected."""
from __future__ import annotations

import collections.abc
import re
from pathlib import Path
from typing import List, Optional, Union

import yaml
from pydantic import ValidationError

from pipeline.core.config_base import ConfigError
from pipeline.core.config_schema import Config
from pipeline.core.features import FEATURE_TYPES


def _format_error(err: dict) -> List[str]:
    loc = [str(p) for p in err["loc"]]
    if len(loc) > 2 and loc[0] == "features" and loc[2] in FEATURE_TYPES:
        del loc[2]  # the discriminator tag pydantic inserts into a union member's path
    path = ".".join("schema" if p == "schema_path" else p for p in loc)
    kind, value = err["type"], err.get("input")
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return [f"{path}: {value!r} is not one of {expected}"]
    if kind == "union_tag_invalid":
        return [f"{path}.type: {err['ctx']['tag']!r} is not one of {', '.join(FEATURE_TYPES)}"]
    if kind == "union_tag_not_found":
        return [f"{path}.type: required key is missing; expected one of {', '.join(FEATURE_TYPES)}"]
    if kind == "extra_forbidden":
        return [f"{path}: unknown key (check the spelling)"]
    if kind == "missing":
        return [f"{path}: required key is missing"]
    if kind == "value_error":
        # Model validators report "relative.path: problem" lines; anchor them at the model's path.
        lines = err["msg"].removeprefix("Value error, ").split("\n")
        return [_join(path, line) for line in lines]
    if kind == "string_pattern_mismatch":
        return [f"{path}: {value!r} does not match {err['ctx']['pattern']}"]
    message = err["msg"].replace("Input should be", "must be")
    return [_join(path, f"{message}, got {value!r}" if kind.startswith(("greater", "less")) else message)]


def _join(path: str, message: str) -> str:
    match = re.match(r"^([\w.-]+): (.*)$", message, re.S)
    if match:
        path, message = ".".join(p for p in (path, match.group(1)) if p), match.group(2)
    return f"{path}: {message}" if path else message


def parse_config(raw: object, source: Optional[str] = None) -> Config:
    """Validate an already-parsed YAML document; raises ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be a mapping, got {type(raw).__name__}", source)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([line for e in exc.errors() for line in _format_error(e)], source) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key that appears twice in one mapping (YAML would keep the last silently).

    Merge keys (`<<: *defaults`, `<<: [*a, *b]`) work as YAML 1.1 defines them: the mapping's own keys override
    the merged ones, and earlier merged mappings override later ones. Only a key written twice in one mapping is
    a duplicate (`<<` included); a key that a merge brings in again is the override merging is for."""

    def __init__(self, stream):
        super().__init__(stream)
        self._checked = set()

    def flatten_mapping(self, node):
        # Every mapping passes here before its entries are merged anywhere (merge sources are flattened first),
        # so the first visit sees it as written.
        if node not in self._checked:
            self._checked.add(node)
            seen = {}
            for key_node, _ in node.value:
                key = "<<" if key_node.tag == "tag:yaml.org,2002:merge" else self.construct_object(key_node)
                if not isinstance(key, collections.abc.Hashable):
                    continue  # a mapping or list as a key: construct_mapping refuses it by name
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {seen[key] + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
        super().flatten_mapping(node)


def load_config(path: Union[str, Path]) -> Config:
    """Read and validate a YAML config file (safe loader; no Python object tags; no duplicate keys)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, expected a YAML file: {path}") from None
    except NotADirectoryError:
        raise ConfigError(f"config file not found: {path} (a parent of it is a file)") from None
    except PermissionError:
        raise ConfigError(f"config file not readable (permission denied): {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config is not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML{at}: {problem}", str(path)) from None
    return parse_config(raw, str(path))
