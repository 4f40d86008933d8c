"""Names shared by the package that writes something and the one that reads it back (the trainer writes,
summary / progress / report read), so that neither imports the other."""
from __future__ import annotations

from typing import Optional, Sequence

HISTORY_FILE = "history.json"  # written by the trainer under the Trainer's model_run: one dict per epoch
PROGRESS_LOGGER = "mtl.progress"  # the trainer's epoch lines; pipeline/progress.py shows them during `mtl run`
BASELINE = "baseline"  # TFMA's model name for the latest blessed model
CLASS_COUNT_SUFFIX = "_classes"  # components.metrics: <macro metric>_classes, the classes a macro value averages


def is_count(metric: str) -> bool:
    """Metrics that count (examples, classes): shown as whole numbers."""
    return metric == "example_count" or metric.endswith(CLASS_COUNT_SUFFIX)


def logged_metric(task: str, keys: Sequence[str], tasks: Sequence[str] = ()) -> Optional[str]:
    """The metric a task logs as '<task>_<metric>' (not its loss or weight), skipping keys of another task
    whose name extends this one ('age_group_auc' is not a metric of 'age')."""
    longer = [t for t in tasks if t != task and t.startswith(f"{task}_")]
    return next((k[len(task) + 1:] for k in keys if k.startswith(f"{task}_")
                 and k not in (f"{task}_loss", f"{task}_weight")
                 and not any(k.startswith(f"{t}_") for t in longer)), None)
