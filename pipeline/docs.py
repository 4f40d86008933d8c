"""Config reference (docs/config.md) rendered from the pydantic models in `pipeline.config`, so it cannot drift.

    python -m pipeline.docs > docs/config.md     # print the reference (what `make docs` writes)
    python -m pipeline.docs --write              # write docs/config.md
    python -m pipeline.docs --check              # exit 1 when docs/config.md is out of date

`sections()` walks `Config` and every model reachable from its fields (the feature types of the discriminated
union one by one), in field order; `render()` turns each into a table of key, type, default and the field's
`description`. Which task keys each task type accepts is found by asking the Task validator, and the threshold
metrics come from `TASK_METRICS`, so nothing here repeats the config's rules by hand.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple, Type, Union

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from pipeline import config as cfg
from pipeline.core import kinds

COMMAND = "python -m pipeline.docs > docs/config.md"
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "config.md"
# Placeholder for the keys of a mapping field in a section path (features.<column>, tasks.<task>, ...).
KEY_NAMES = {"features": "<column>", "tasks": "<task>", "thresholds": "<metric>"}


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Section:
    paths: Tuple[str, ...]  # YAML paths of the mappings the model describes ("" for the top level)
    model: Type[BaseModel]
    tag: Optional[str] = None  # discriminator value, for a member of a tagged union (feature types)

    @property
    def anchor(self) -> str:
        return self.model.__name__.lower()

    @property
    def title(self) -> str:
        where = ", ".join(f"`{p}`" for p in self.paths) if self.paths != ("",) else "Top level"
        return f"{where} with `type: {self.tag}`" if self.tag else where


# ------------------------------------------------------------------------------------------------- walk
def _models_in(annotation) -> List[Tuple[Type[BaseModel], bool, Optional[str]]]:
    """(model, under a mapping?, discriminator tag) for every model class inside an annotation."""
    found = []

    def visit(tp, in_map: bool):
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            visit(args[0], in_map)
        elif origin is Union:
            members = [a for a in args if a is not type(None)]
            for member in members:
                tag = _tag(member) if len(members) > 1 else None
                if tag is not None:
                    found.append((member, in_map, tag))
                else:
                    visit(member, in_map)
        elif origin is dict:
            visit(args[1], True)
        elif origin in (list, tuple):
            for arg in args:
                visit(arg, in_map)
        elif inspect.isclass(tp) and issubclass(tp, BaseModel):
            found.append((tp, in_map, None))

    visit(annotation, False)
    return found


def _tag(model) -> Optional[str]:
    """The `type` literal of a tagged-union member (NumericFeature -> 'numeric')."""
    if not (inspect.isclass(model) and issubclass(model, BaseModel)) or "type" not in model.model_fields:
        return None
    values = typing.get_args(model.model_fields["type"].annotation)
    return values[0] if len(values) == 1 else None


def sections(root: Type[BaseModel] = cfg.Config) -> List[Section]:
    """Every model reachable from `root`, depth first in field order, each once with every path it is used at."""
    found = {}  # model -> [paths, tag], in the order first reached

    def walk(model, path, tag=None):
        if model in found:
            found[model][0].append(path)
            return
        found[model] = [[path], tag]
        for name, field in model.model_fields.items():
            key = field.alias or name
            for child, in_map, child_tag in _models_in(field.annotation):
                child_path = ".".join(p for p in (path, key) if p)
                if in_map:
                    child_path += "." + KEY_NAMES.get(key, "<key>")
                walk(child, child_path, child_tag)

    walk(root, "")
    return [Section(tuple(paths), model, tag) for model, (paths, tag) in found.items()]


# ------------------------------------------------------------------------------------------------ types
def _constraints(metadata) -> List[Any]:
    """annotated_types constraints and pydantic's pattern metadata, flattened out of nested FieldInfos."""
    out = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            out += _constraints(item.metadata)
        else:
            out.append(item)
    return out


def _bounds(constraints) -> List[str]:
    parts = []
    for c in constraints:
        if isinstance(c, at.Gt):
            parts.append(f"> {c.gt}")
        elif isinstance(c, at.Ge):
            parts.append(f">= {c.ge}")
        elif isinstance(c, at.Lt):
            parts.append(f"< {c.lt}")
        elif isinstance(c, at.Le):
            parts.append(f"<= {c.le}")
    return parts


def _min_length(constraints) -> Optional[int]:
    return next((c.min_length for c in constraints if isinstance(c, at.MinLen)), None)


def _pattern(constraints) -> Optional[str]:
    return next((getattr(c, "pattern") for c in constraints if getattr(c, "pattern", None)), None)


def _sized(text: str, noun: str, constraints) -> str:
    minimum = _min_length(constraints)
    if minimum == 1:
        return f"non-empty {noun}{text}"
    if minimum:
        return f"{noun}{text} (at least {minimum})"
    return f"{noun}{text}"


def type_text(annotation, metadata=()) -> str:
    """A readable type: `int >= 1`, `one of: binary | multiclass`, `list of str`, a link to a model's section."""
    constraints = _constraints(metadata)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0], [*constraints, *args[1:]])
    if origin is Union:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return type_text(members[0], constraints)
        tags = [_tag(m) for m in members]
        if all(tags):
            return "by `type`: " + " \\| ".join(f"[{t}](#{m.__name__.lower()})" for t, m in zip(tags, members))
        # sorted: typing caches List[Union[a, b]] by equality, so the order of b, a depends on import order
        return " or ".join(sorted(type_text(m) for m in members))
    if origin is typing.Literal:
        if len(args) == 1:
            return f"`{args[0]}`"
        return "one of: " + " \\| ".join(str(a) for a in args)
    if origin is list:
        return _sized(f" of {type_text(args[0])}", "list", constraints)
    if origin is tuple:
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin is dict:
        return _sized(f": {type_text(args[0])} -> {type_text(args[1])}", "map", constraints)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    name = getattr(annotation, "__name__", str(annotation))
    if annotation is str:
        pattern = _pattern(constraints)
        text = _sized("", "str", constraints)
        return f"{text} matching `{pattern}`" if pattern else text
    bounds = _bounds(constraints)
    return f"{name} {' and '.join(bounds)}" if bounds else name


# --------------------------------------------------------------------------------------------- defaults
def _value(value) -> str:
    if isinstance(value, BaseModel):
        return "see its section"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple, dict)):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def default_text(model: Type[BaseModel], name: str, field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        option_defaults = cfg.OPTION_DEFAULTS if name in getattr(model, "options", {}) else {}
        return f"unset ({_value(option_defaults[name])})" if name in option_defaults else "unset"
    if value is PydanticUndefined:
        return "required"
    return _value(value)


def _markdown(text: str, cell: bool = False) -> str:
    """Plain text as Markdown: one line; outside `code` spans no tags or emphasis; in a table cell, no column
    breaks (GFM needs the escaped pipe inside code spans too)."""
    parts = " ".join(text.split()).split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace("*", "\\*")
    text = "`".join(parts)
    return text.replace("|", "\\|") if cell else text


def rows(model: Type[BaseModel]) -> List[Row]:
    return [Row(field.alias or name, type_text(field.annotation, field.metadata), default_text(model, name, field),
                _markdown(field.description or "", cell=True))
            for name, field in model.model_fields.items()]


# ------------------------------------------------------------------------------------ derived notes
def _sample(annotation, index: int = 0):
    """A valid-looking value of a type, to ask a model's validators whether a key is accepted."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _sample(args[0], index)
    if origin is Union:
        return _sample(next(a for a in args if a is not type(None)), index)
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        return [_sample(args[0], 0), _sample(args[0], 1)]
    if origin is dict:
        return {}
    return {str: "ab"[index], int: 1 + index, float: 1.0 + index, bool: True}.get(annotation)


_NEEDS = {"negative": {"positive": "positive value"}}  # a key only valid next to another


def task_keys_by_type() -> dict:
    """Task type -> the optional keys only some task types accept (asked of the Task validator)."""
    accepted = {t: [] for t in cfg.TASK_TYPES}
    for name, field in cfg.Task.model_fields.items():
        sample = _sample(field.annotation)
        if field.is_required() or sample is None:
            continue
        takers = []
        for task_type in cfg.TASK_TYPES:
            try:
                needs = {"tokens_of": "text"} if "tokens_of" in kinds.kind(task_type).keys else {}  # required
                cfg.Task.model_validate({"type": task_type, "label": "y", **needs, **_NEEDS.get(name, {}),
                                         name: sample})
                takers.append(task_type)
            except ValidationError:
                pass
        if len(takers) < len(cfg.TASK_TYPES):
            for task_type in takers:
                accepted[task_type].append(name)
    return accepted


def _metric(metric: str) -> str:
    notes = []
    if metric in cfg.LOWER_IS_BETTER:
        notes.append("lower is better: `max_rise`")
    elif metric in cfg.NO_DIRECTION:
        notes.append("`min`/`max` only")
    if metric in cfg.PER_CLASS_METRICS:
        notes.append("needs `classes`")
    return f"`{metric}`" + (f" ({'; '.join(notes)})" if notes else "")


def task_types_table() -> List[str]:
    by_type = task_keys_by_type()
    lines = ["| task type | keys only this type takes | threshold metrics |", "|---|---|---|"]
    for task_type in cfg.TASK_TYPES:
        keys = ", ".join(f"`{k}`" for k in by_type[task_type]) or "-"
        lines.append(f"| `{task_type}` | {keys} | {', '.join(_metric(m) for m in cfg.TASK_METRICS[task_type])} |")
    return ["Keys and threshold metrics by task type (metrics without a note are higher-is-better: `max_drop`):",
            "", *lines]


def options_note(model: Type[BaseModel]) -> List[str]:
    selector, options = getattr(model, "selector", None), getattr(model, "options", None)
    if not selector or not options:
        return []
    lines = [f"Options read only by some values of `{selector}` (setting one for another value is an error; "
             "left unset, an option takes the default in brackets):", ""]
    lines += [f"- `{option}`: {', '.join(users)}" for option, users in options.items()]
    return lines


# -------------------------------------------------------------------------------------------- render
def _docstring(model: Type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if not doc or doc == BaseModel.__doc__ or any(doc == base.__doc__ for base in model.__mro__[1:]):
        return ""
    return _markdown(inspect.cleandoc(doc))


def render() -> str:
    found = sections()
    out = ["# Config reference", "",
           "<!-- Generated from pipeline/config.py by pipeline/docs.py; do not edit by hand. -->",
           f"Generated from the pydantic models in `pipeline/config.py`; do not edit by hand. Regenerate with "
           f"`{COMMAND}` (or `make docs`); `tests/test_docs.py` fails when this file is out of date.", "",
           "A config is one YAML file. Unknown keys, keys given twice and NaN/infinite numbers are errors; "
           "paths are relative to the directory you run `mtl` from. `mtl validate --config FILE` checks a "
           "config and its data header without running anything. A worked example: "
           "[bring-your-own-data.md](bring-your-own-data.md).", "",
           "Sections:", ""]
    out += [f"- [{s.title}](#{s.anchor}) (`{s.model.__name__}`)" for s in found]
    for section in found:
        out += ["", f'<a id="{section.anchor}"></a>', "", f"## {section.title}", "",
                f"Class: `pipeline.config.{section.model.__name__}`."
                + (f" {_docstring(section.model)}" if _docstring(section.model) else ""), "",
                "| key | type | default | description |", "|---|---|---|---|"]
        out += [f"| `{r.key}` | {r.type} | {r.default} | {r.description} |" for r in rows(section.model)]
        if section.model is cfg.Task:
            out += ["", *task_types_table()]
        note = options_note(section.model)
        if note:
            out += ["", *note]
    return "\n".join(out) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.docs", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DOC_PATH.parent.name}/{DOC_PATH.name}")
    mode.add_argument("--check", action="store_true", help="exit 1 when the written file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}", file=sys.stderr)
    elif args.check:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
