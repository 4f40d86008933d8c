"""What rows a task's metrics count, in words, when not simply its labelled rows: the evaluation section's note
under each task heading."""
from typing import Dict


def task_space_note(task, values: Dict[str, float]) -> str:
    """What rows a task is evaluated on, when not simply the labelled ones: its space (`where`), its weights
    (`weight_column`), a product task's factors."""
    count = values.get("example_count")
    parts = []
    if task.where is not None:
        rows = f": {count:,.0f} labelled evaluation rows in it" if count is not None and not task.weight_column else ""
        parts.append(f"Task space {task.where.describe()} (rows outside it are unlabelled for this task){rows}.")
    if task.weight_column:
        total = f" ({count:,.4g} in all)" if count is not None else ""
        parts.append(f"Rows weighted by column {task.weight_column}: metrics are weighted and example_count is the "
                     f"summed weight{total}.")
    if task.product_of:
        parts.append("Probability = " + " × ".join(task.product_of) + " (no tower of its own).")
    return " ".join(parts)
