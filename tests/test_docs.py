"""The docs stay true: docs/config.md is what `python -m pipeline.docs` renders now and covers every field of
every config model; the example configs validate; the guides' YAML and `mtl` commands exist. No pipeline runs."""
import glob
import inspect
import os
import re
import typing

import pytest
import yaml
from pydantic import BaseModel

from pipeline import config as cfg
from pipeline import docs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(REPO, "docs", "config.md")
GUIDES = [os.path.join(REPO, "docs", name) for name in ("bring-your-own-data.md", "architecture.md")]
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))
CORE_MODELS = {"Config", "Data", "NumericFeature", "CategoricalFeature", "TextFeature", "Task", "Threshold",
               "Model", "Training", "Evaluation", "Orchestration"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def config_models():
    """Every pydantic model reachable from Config's field annotations (found here, not by the generator)."""
    found, todo = {}, [cfg.Config]
    while todo:
        model = todo.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = model
        for field in model.model_fields.values():
            stack = [field.annotation]
            while stack:
                tp = stack.pop()
                stack.extend(typing.get_args(tp))
                if inspect.isclass(tp) and issubclass(tp, BaseModel):
                    todo.append(tp)
    return found


def section(text, model_name):
    """The part of the reference that documents one model: from its `Class:` line to the next heading."""
    marker = f"Class: `pipeline.config.{model_name}`"
    assert marker in text, f"docs/config.md has no section for {model_name}"
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


def table_keys(part):
    """Keys of the section's field table (the first table; notes follow it after a blank line)."""
    table = part.split("| key | type | default | description |", 1)[1].strip().split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", table, re.M)]


# ------------------------------------------------------------------------------------------ reference
def test_reference_is_generated_from_the_current_models():
    assert read(REFERENCE) == docs.render(), f"docs/config.md is out of date: run `{docs.COMMAND}` (or make docs)"


def test_a_changed_model_makes_the_reference_stale(monkeypatch):
    """The freshness check above can fail: a description edit changes the rendered reference."""
    field = cfg.Data.model_fields["eval_fraction"]
    monkeypatch.setattr(field, "description", "a changed description")
    rendered = docs.render()
    assert rendered != read(REFERENCE)
    assert "| a changed description |" in rendered
    assert docs.main(["--check"]) == 1


def test_every_field_of_every_model_is_documented():
    text = read(REFERENCE)
    models = config_models()
    assert CORE_MODELS <= set(models), f"walk found only {sorted(models)}"
    for name, model in models.items():
        part = section(text, name)
        expected = [field.alias or key for key, field in model.model_fields.items()]
        assert table_keys(part) == expected, f"{name}: documented keys differ from the model's fields"
        for key, field in model.model_fields.items():
            assert field.description and field.description.strip(), f"{name}.{key} has no description="
            row = next(line for line in part.splitlines() if line.startswith(f"| `{field.alias or key}` |"))
            first_word = docs._markdown(field.description.split()[0], cell=True)
            assert first_word in row.split(" | ")[-1], f"{name}.{key}: description missing from {row!r}"


def test_reference_lists_every_choice_and_metric():
    text = read(REFERENCE)
    task_part = section(text, "Task")
    for task_type, metrics in cfg.TASK_METRICS.items():
        row = next(line for line in task_part.splitlines() if line.startswith(f"| `{task_type}` |"))
        for metric in metrics:
            assert f"`{metric}`" in row, f"{metric} missing for {task_type}"
    for choices in (cfg.TASK_TYPES, cfg.ARCHITECTURES, cfg.LOSS_WEIGHTINGS, cfg.DISTRIBUTIONS):
        assert "one of: " + " \\| ".join(choices) in text
    assert "- `experts`: mmoe" in section(text, "Model")
    assert "| `binary` | `positive`, `negative`, `unknown_labels`, `product_of` |" in task_part and "| `multilabel` | `separator`, `classes` |" in task_part


def test_type_text_is_readable():
    assert docs.type_text(int, cfg.CategoricalFeature.model_fields["oov_buckets"].metadata) == "int >= 1"
    assert docs.type_text(typing.List[str]) == "list of str"
    assert docs.type_text(cfg.Task.model_fields["type"].annotation) == (
        "one of: binary \\| multiclass \\| multilabel \\| regression \\| sequence_tagging")
    assert docs.type_text(typing.Optional[float]) == "float"


# ------------------------------------------------------------------------------------ example configs
def test_there_are_example_configs():
    assert CONFIGS, "no configs/*.yaml found"


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_example_config_validates(path):
    config = cfg.load_config(path)
    assert config.tasks and config.features


# ------------------------------------------------------------------------------------------- guides
def yaml_blocks(text):
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_guide_yaml_is_a_valid_config():
    """The guide's full config validates, and every fragment validates when put into it."""
    blocks = [yaml.safe_load(b) for b in yaml_blocks(read(GUIDES[0]))]
    full = [b for b in blocks if "name" in b]
    assert len(full) == 1, "expected one complete config in bring-your-own-data.md"
    cfg.parse_config(full[0], "bring-your-own-data.md")
    for fragment in blocks:
        cfg.parse_config({**full[0], **fragment}, f"bring-your-own-data.md fragment {sorted(fragment)}")


def command_lines(text):
    """`mtl ...` invocations inside code (fenced blocks without comments, inline code spans), each cut at the
    first ( ) | ; that ends it in prose or a diagram."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        found += [line.split(" #")[0] for line in block.replace("\\\n", " ").splitlines()]
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`]+)`", outside.replace("\n", " "))
    return [re.split(r"[()|;]", m)[0] for line in found for m in re.findall(r"(?<![\w./-])mtl [a-z].*", line)]


@pytest.mark.parametrize("path", GUIDES, ids=os.path.basename)
def test_guide_commands_exist(path):
    import click

    from pipeline.cli import main

    calls = command_lines(read(path))
    assert calls, f"no mtl command found in {path}"
    for call in calls:
        words = call.split()
        name = re.match(r"[a-z]+", words[1]).group()
        command = main.commands.get(name)
        assert command is not None, f"{call!r}: no command {name!r}"
        rest = words[2:]
        if isinstance(command, click.Group) and rest and re.fullmatch(r"[a-z]+", rest[0]):
            command = command.commands.get(rest[0])
            assert command is not None, f"{call!r}: no subcommand {rest[0]!r}"
        options = {opt for param in command.params for opt in param.opts}
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(rest)):
            assert flag in options, f"{call!r}: {flag} is not an option of mtl {name}"
