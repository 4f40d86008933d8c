"""The DataGate's checks of what the statistics say about labels and numbers: a label no model can learn
from (no value, a binary positive that never occurs or nothing else that does, a value that is neither positive
nor negative, a single class) and NaN or infinite numbers."""
import math
from typing import Dict, List, Optional

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.gates.findings import Finding, all_values, common_stats, feature_stats, is_number, shown
from pipeline import config as cfg


def label_findings(config: cfg.DataContract, split: str, stats: statistics_pb2.DatasetFeatureStatistics,
                   negatives: Optional[Dict[str, List[str]]] = None) -> List[Finding]:
    """Labels no model can learn from: no value at all, a binary positive that never occurs (or nothing
    else occurs), a binary value that is neither positive nor negative (never counted as a negative), a
    classification label with a single class. `negatives` carries the negative value each binary task learns
    from the train split (checked first) to the other splits."""
    negatives = {} if negatives is None else negatives
    findings = []
    for name, task in config.tasks.items():
        feature = feature_stats(stats, task.label)
        if feature is None:
            continue
        common = common_stats(feature)
        if common.num_non_missing == 0 or common.tot_num_values == 0:  # (an empty cell: a feature with no value)
            findings.append(Finding(split, task.label, f"label of task '{name}' has no value in any row", True))
            continue
        problem, blocking = None, True
        if task.type == "binary":
            problem, blocking = _binary_problem(name, task, feature, split, negatives)
        elif task.type == "multiclass":
            problem = _multiclass_problem(task, feature)
        if problem:
            findings.append(Finding(split, task.label, f"task '{name}': {problem}", blocking))
    return findings


def _binary_problem(name: str, task: cfg.Task, feature, split: str, negatives: Dict[str, List[str]]):
    """(problem or None, blocking)."""
    if feature.WhichOneof("stats") == "string_stats":
        return _binary_text_problem(name, task, feature, split, negatives)
    if feature.WhichOneof("stats") == "num_stats":
        return _binary_number_problem(task, feature), True
    return None, True


def _binary_text_problem(name: str, task: cfg.Task, feature, split: str, negatives: Dict[str, List[str]]):
    values = all_values(feature)
    tolerate = task.unknown_labels == "unlabelled"
    if values is None:  # more distinct values than the statistics list
        if tolerate and task.negative:
            return None, True
        return (f"{feature.string_stats.unique} distinct values; a binary label holds a positive and a negative "
                "value (set `positive` and `negative`, or list missing-value spellings in data.na_values)"), True
    roles = task.binary_roles(values, negatives.get(name))
    counts = {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets}
    if not roles.positive:
        wanted = f"the positive value {task.positive!r}" if task.positive is not None else \
            "a true value (" + "/".join(cfg.TRUE_STRINGS) + "; or set `positive`)"
        return f"{wanted} never occurs (values: {shown(values)})", True
    others = list(dict.fromkeys(v.strip() for v in roles.other))  # ' no' and 'no' are one value
    if split == "train" and len(others) > 1:
        return (f"{shown(others)} besides the positive {task.positive!r}: which mean 0? Set "
                f"tasks.{name}.negative to them (a value or a list), or list the ones that mean 'missing' in "
                "data.na_values"), True
    if split == "train" and others:
        negatives[name] = others
    unlabelled = None
    if roles.unknown:
        rows = sum(counts.get(v, 0) for v in roles.unknown)
        negative = task.negative or negatives.get(name)
        expected = (f"the positive {task.positive!r} nor the negative {shown(negative)}"
                    if task.positive is not None else "a true value (" + "/".join(cfg.TRUE_STRINGS) +
                    ") nor a false one (" + "/".join(cfg.FALSE_STRINGS) + "); or set `positive`")
        text = f"{rows:g} row(s) hold {shown(roles.unknown)}, neither {expected}"
        if not tolerate:
            return text + f" (set tasks.{name}.unknown_labels: unlabelled to train without them)", True
        unlabelled = text + "; they count as unlabelled (unknown_labels: unlabelled)"
    if not roles.negative and not roles.other:  # (also when the unlabelled rows held every non-positive value)
        return f"every labelled row is positive ({shown(values)}): nothing to tell apart", True
    if unlabelled:
        return unlabelled, False  # a note: those rows are unlabelled for this task
    return None, True


def _binary_number_problem(task: cfg.Task, feature) -> Optional[str]:
    low, high = feature.num_stats.min, feature.num_stats.max
    if task.positive is None:
        return None if low <= 0.5 < high else f"values range {low:g}..{high:g}: no row is both > 0.5 " \
                                                "(positive) and another <= 0.5 (negative)"
    try:
        positive = float(task.positive)
        negative = [float(v) for v in task.negative or []]
    except ValueError:
        return f"the positive/negative values {task.positive!r} {task.negative or ''} are not numbers, but the " \
               "column holds numbers"
    if not low <= positive <= high:
        return f"the positive value {task.positive!r} never occurs (values range {low:g}..{high:g})"
    if low == high:
        return f"every labelled row is {low:g}: nothing to tell apart"
    if not negative and low < positive < high:
        return f"values on both sides of the positive {task.positive!r} (range {low:g}..{high:g}): which mean 0? " \
               "Set `negative`"
    odd = [v for v in (low, high) if v != positive and negative and v not in negative]
    if odd and task.unknown_labels != "unlabelled":
        return f"the value {odd[0]:g} is neither the positive {task.positive!r} nor a negative {task.negative}"
    return None


def _multiclass_problem(task: cfg.Task, feature) -> Optional[str]:
    values = all_values(feature)
    if values is not None:
        seen = [v for v in values if v.strip() in task.classes] if task.classes else values
        if len(seen) < 2:
            listed = f"of the configured classes ({shown(task.classes)}) " if task.classes else "class "
            return f"only {len(seen)} {listed}occurs (values: {shown(values)}); a classifier needs 2"
    elif feature.WhichOneof("stats") == "num_stats" and feature.num_stats.min == feature.num_stats.max:
        return f"every labelled row is {feature.num_stats.min:g}: a classifier needs 2 classes"
    return None


def number_findings(config: cfg.DataContract, split: str,
                    stats: statistics_pb2.DatasetFeatureStatistics) -> List[Finding]:
    """NaN or infinite values in numeric features and regression labels (an empty cell is the way to say
    'missing'; NaN would turn the z-score and the loss into NaN)."""
    columns = [n for n, f in config.features.items() if f.type == "numeric"]
    columns += [t.label for t in config.tasks.values() if t.type in ("regression", "binary")]
    columns += [t.weight_column for t in config.tasks.values() if t.weight_column]
    findings = []
    for column in dict.fromkeys(columns):
        feature = feature_stats(stats, column)
        if feature is None or feature.WhichOneof("stats") != "num_stats":
            continue
        nans = max((h.num_nan for h in feature.num_stats.histograms), default=0)
        if nans:
            findings.append(Finding(split, column, f"{nans:g} NaN value(s); leave a cell empty for a missing "
                                                   "value (or list the spelling in data.na_values)", True))
        if math.isinf(feature.num_stats.min) or math.isinf(feature.num_stats.max):
            findings.append(Finding(split, column, f"infinite values (range {feature.num_stats.min:g}.."
                                                   f"{feature.num_stats.max:g})", True))
    return findings


def space_findings(config: cfg.DataContract, split: str,
                   stats: statistics_pb2.DatasetFeatureStatistics) -> List[Finding]:
    """Task spaces no row meets (`tasks.X.where`: its values never occur, its range misses every value) and
    weight columns no model can train with (text, a negative weight, every weight 0)."""
    findings = []
    for name, task in config.tasks.items():
        space = task.where
        feature = feature_stats(stats, space.column) if space else None
        if space and feature is None:
            findings.append(Finding(split, space.column, f"tasks.{name}.where reads this column, which is not in "
                                                         "the data", True))
        elif space:
            problem = _space_problem(space, feature)
            if problem:
                findings.append(Finding(split, space.column, f"task '{name}': no row is in its space "
                                                             f"({space.describe()}): {problem}", True))
        if task.weight_column:
            findings += _weight_findings(name, task.weight_column, split, feature_stats(stats, task.weight_column))
    return findings


def _space_problem(space: cfg.TaskSpace, feature) -> Optional[str]:
    kind = feature.WhichOneof("stats")
    if kind == "string_stats":
        values = all_values(feature)
        if space.values is None:
            return "the column holds text; a range (gt/ge/lt/le) needs numbers"
        wanted = {cfg.space_text(v) for v in space.values}
        if values is not None and not wanted & {v.strip() for v in values}:
            return f"the column holds {shown(values)}"
    elif kind == "num_stats":
        low, high = feature.num_stats.min, feature.num_stats.max
        if space.values is not None:
            numbers = [float(v) for v in space.values if is_number(str(v))]
            if len(numbers) < len(space.values):
                return "the column holds numbers, but the condition names text"
            if not any(low <= v <= high for v in numbers):
                return f"values range {low:g}..{high:g}"
        elif (space.gt is not None and high <= space.gt) or (space.ge is not None and high < space.ge) or \
                (space.lt is not None and low >= space.lt) or (space.le is not None and low > space.le):
            return f"values range {low:g}..{high:g}"
    return None


def _weight_findings(name: str, column: str, split: str, feature) -> List[Finding]:
    where = f"weight column of task '{name}'"
    if feature is None:
        return [Finding(split, column, f"{where}: not in the data", True)]
    if feature.WhichOneof("stats") != "num_stats":
        return [Finding(split, column, f"{where}: holds text; expected a number per row (empty = weight 0)", True)]
    low, high = feature.num_stats.min, feature.num_stats.max
    if low < 0:
        return [Finding(split, column, f"{where}: negative weights (smallest {low:g}); weights must be >= 0", True)]
    if high == 0 and common_stats(feature).num_non_missing:
        return [Finding(split, column, f"{where}: every weight is 0, so the task would learn nothing", True)]
    return []
