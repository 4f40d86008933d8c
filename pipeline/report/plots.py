"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed). Each function takes plain
data from pipeline.report.collect and returns one PNG, or None when there is nothing to draw."""
from __future__ import annotations

import io
import math
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from pipeline.summary import logged_metric  # noqa: E402

DPI = 96
WIDTH = 7.5  # inches: 720 px at DPI


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def _finite(values: Sequence[float]) -> List[float]:
    return [v if v is not None and math.isfinite(v) else float("nan") for v in values]


def training_curves(task: str, epochs: List[dict], tasks: Sequence[str] = ()) -> Optional[bytes]:
    """Loss (train, validation) and the task's metric (train, validation) per epoch."""
    if not epochs:
        return None
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    metric = logged_metric(task, list(epochs[-1]), tasks)
    figure, axes = plt.subplots(1, 2 if metric else 1, figsize=(WIDTH, 2.6), squeeze=False)
    for axis, key, title in ((axes[0][0], "loss", "loss"), *(((axes[0][1], metric, metric),) if metric else ())):
        axis.plot(x, _finite([e.get(f"{task}_{key}") for e in epochs]), marker="o", label="train")
        if any(f"val_{task}_{key}" in e for e in epochs):
            axis.plot(x, _finite([e.get(f"val_{task}_{key}") for e in epochs]), marker="o", label="validation")
        axis.set_title(f"{task}: {title}")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    return _png(figure)


def loss_weights(tasks: Sequence[str], epochs: List[dict], method: str) -> Optional[bytes]:
    """Each task's loss weight per epoch."""
    if not epochs or not any(f"{t}_weight" in epochs[0] for t in tasks):
        return None
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    figure, axis = plt.subplots(figsize=(WIDTH, 2.8))
    for task in tasks:
        axis.plot(x, _finite([e.get(f"{task}_weight") for e in epochs]), marker="o", label=task)
    axis.set_title(f"task loss weights ({method})" if method else "task loss weights")
    axis.set_xlabel("epoch")
    axis.grid(alpha=0.3)
    axis.legend()
    return _png(figure)


def gate_usage(gates: Dict[str, list]) -> Optional[bytes]:
    """Mean softmax weight each gate gives each expert (last epoch, evaluation batches) as a heat map; a
    cross-stitch unit's mixing matrix is a row per task. Gates over fewer experts leave blank cells."""
    rows: List[Tuple[str, List[float]]] = []
    for name, usage in gates.items():
        if usage and isinstance(usage[0], list):
            rows += [(f"{name}[{i}]", list(row)) for i, row in enumerate(usage)]
        elif usage:
            rows.append((name, list(usage)))
    if not rows:
        return None
    width = max(len(values) for _, values in rows)
    grid = [values + [float("nan")] * (width - len(values)) for _, values in rows]
    figure, axis = plt.subplots(figsize=(WIDTH, 0.5 + 0.42 * len(rows)))
    finite = [v for r in grid for v in r if math.isfinite(v)]
    image = axis.imshow(grid, cmap="viridis", vmin=0, vmax=max([1e-9, *finite]), aspect="auto")
    axis.set_yticks(range(len(rows)), [name for name, _ in rows])
    axis.set_xticks(range(width), [str(i) for i in range(width)])
    axis.set_xlabel("expert")
    for y, values in enumerate(grid):
        for x, value in enumerate(values):
            if math.isfinite(value):
                axis.text(x, y, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.5 else "black",
                          fontsize=8)
    figure.colorbar(image, ax=axis)
    axis.set_title("expert gate usage (mean weight, evaluation batches, last epoch)")
    return _png(figure)


def calibration(task: str, buckets: List[Tuple[float, float, float, float, float]]) -> Optional[bytes]:
    """Reliability diagram: mean prediction against observed positive rate per score bucket, and how many
    examples fall in each bucket."""
    used = [b for b in buckets if b[2] > 0 and math.isfinite(b[0]) and math.isfinite(b[1])]
    if not used:
        return None
    predicted = [b[4] / b[2] for b in used]
    observed = [b[3] / b[2] for b in used]
    figure, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.0))
    left.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    left.plot(predicted, observed, marker="o", label=task)
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    left.set_xlabel("mean predicted probability")
    left.set_ylabel("observed positive rate")
    left.set_title(f"{task}: calibration")
    left.grid(alpha=0.3)
    left.legend()
    right.bar([(b[0] + b[1]) / 2 for b in used], [b[2] for b in used], width=[b[1] - b[0] for b in used],
              edgecolor="white")
    right.set_xlabel("predicted probability")
    right.set_ylabel("examples")
    right.set_title(f"{task}: score distribution")
    return _png(figure)


def confusion(task: str, classes: List[str], matrix: List[List[float]]) -> Optional[bytes]:
    """Row-normalised confusion matrix (actual rows, predicted columns) annotated with counts."""
    if not classes:
        return None
    normalised = [[v / sum(row) if sum(row) else 0.0 for v in row] for row in matrix]
    size = max(3.0, 0.55 * len(classes) + 1.5)
    figure, axis = plt.subplots(figsize=(min(WIDTH, size + 1.5), size))
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("actual")
    if len(classes) <= 20:
        for y, row in enumerate(matrix):
            for x, value in enumerate(row):
                axis.text(x, y, f"{value:.0f}", ha="center", va="center", fontsize=8,
                          color="white" if normalised[y][x] > 0.5 else "black")
    axis.set_title(f"{task}: confusion (top-1)")
    return _png(figure)


def label_distribution(task: str, column: str, top: List[Tuple[str, float]],
                       histogram: List[Tuple[float, float, float]]) -> Optional[bytes]:
    """The label column's value frequencies (text labels) or histogram (numeric labels), training split."""
    figure, axis = plt.subplots(figsize=(WIDTH, 2.6))
    if top:
        names = [value if len(value) <= 30 else value[:29] + "…" for value, _ in top][::-1]
        axis.barh(names, [count for _, count in top][::-1])
        axis.set_xlabel("examples")
    elif histogram:
        axis.bar([(low + high) / 2 for low, high, _ in histogram], [count for _, _, count in histogram],
                 width=[(high - low) or 1.0 for low, high, _ in histogram], edgecolor="white")
        axis.set_xlabel(column)
        axis.set_ylabel("examples")
    else:
        plt.close(figure)
        return None
    axis.set_title(f"{task}: label '{column}' (train)")
    return _png(figure)


def _distinct(names: List[str]) -> List[str]:
    """Bar labels made unique (cut names can collide, and matplotlib would merge their bars)."""
    seen: Dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def metric_by_slice(task: str, metric: str, values: List[Tuple[str, float]], bound: Optional[float]) -> Optional[bytes]:
    """One metric across slices, with the threshold as a line (thresholds apply to the overall slice)."""
    if len(values) < 2:
        return None
    figure, axis = plt.subplots(figsize=(WIDTH, 0.8 + 0.28 * len(values)))
    names = _distinct([name if len(name) <= 40 else name[:39] + "…" for name, _ in values])[::-1]
    axis.barh(names, [v for _, v in values][::-1], color=["#1f77b4" if n != "Overall" else "#444" for n in names])
    if bound is not None:
        axis.axvline(bound, color="red", linestyle="--", label=f"threshold {bound:g}")
        axis.legend()
    axis.set_title(f"{task}: {metric} by slice")
    axis.grid(alpha=0.3, axis="x")
    return _png(figure)
