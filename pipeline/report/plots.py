"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed). Each function takes plain
data from pipeline.report.collect and returns one PNG, or None when there is nothing to draw."""
from __future__ import annotations

import io
import math
from typing import Collection, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from pipeline.core.names import logged_metric  # noqa: E402

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


def training_curves(task: str, epochs: List[dict], tasks: Sequence[str] = (), kept: Optional[int] = None
                    ) -> Optional[bytes]:
    """Loss (train, validation) and the task's metric (train, validation) per epoch; a dotted line at the
    epoch the exported model keeps."""
    if not epochs:
        return None
    x = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    metric = logged_metric(task, list(epochs[-1]), tasks)
    figure, axes = plt.subplots(1, 2 if metric else 1, figsize=(WIDTH, 2.6), squeeze=False)
    for axis, key, title in ((axes[0][0], "loss", "loss"), *(((axes[0][1], metric, metric),) if metric else ())):
        axis.plot(x, _finite([e.get(f"{task}_{key}") for e in epochs]), marker="o", label="train")
        if any(f"val_{task}_{key}" in e for e in epochs):
            axis.plot(x, _finite([e.get(f"val_{task}_{key}") for e in epochs]), marker="o", label="validation")
        if kept is not None:
            axis.axvline(kept, color="grey", linestyle=":", label=f"kept (epoch {kept})")
        axis.set_title(f"{task}: {title}")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
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


def metric_by_slice_figure(task: str, metric: str, values: List[Tuple[str, float]], bounds: Sequence[float] = (),
                           small: Collection[str] = (), slicing: str = ""):
    """(figure, axis): one metric across the slices of one slicing (Overall first, dark), a dot per slice on an
    axis zoomed to the values and the thresholds (bars from 0 would make 0.94 and 0.99 look alike), the
    thresholds as dashed lines named in the title (a legend would cover the top slice). Hollow dots: slices
    too small to trust. None when there are fewer than two values."""
    if len(values) < 2:
        return None
    figure, axis = plt.subplots(figsize=(WIDTH, 0.9 + 0.3 * len(values)))
    names = _distinct([name if len(name) <= 40 else name[:39] + "…" for name, _ in values])
    y = list(range(len(values)))[::-1]  # first (Overall) at the top
    for (name, value), row, label in zip(values, y, names):
        color = "#444" if name == "Overall" else "#1f77b4"
        hollow = name in small
        axis.hlines(row, 0, 1, transform=axis.get_yaxis_transform(), color="#eee", zorder=0)
        axis.plot([value], [row], "o", color=color, markerfacecolor="white" if hollow else color, markersize=7)
        axis.annotate(f"{value:.4f}", (value, row), textcoords="offset points", xytext=(6, 3), fontsize=8)
    axis.set_yticks(y, names)
    shown = [v for _, v in values] + list(bounds)
    low, high = min(shown), max(shown)
    pad = max(high - low, abs(high) * 0.02, 1e-3) * 0.12
    axis.set_xlim(low - pad, high + 2 * pad)  # room on the right for the value labels
    for bound in bounds:
        axis.axvline(bound, color="red", linestyle="--", linewidth=1)
    named = ", ".join(f"{b:g}" for b in bounds)
    axis.set_title(f"{task}: {metric}" + (f" by {slicing}" if slicing else " by slice")
                   + (f" (red dashed: threshold {named}, applies to Overall)" if bounds else ""), fontsize=10)
    axis.grid(alpha=0.3, axis="x")
    return figure, axis


def metric_by_slice(task: str, metric: str, values: List[Tuple[str, float]], bounds: Sequence[float] = (),
                    small: Collection[str] = (), slicing: str = "") -> Optional[bytes]:
    found = metric_by_slice_figure(task, metric, values, bounds, small, slicing)
    return _png(found[0]) if found else None


def roc_pr(task: str, points: List[Tuple[float, float, float, float, float]], auc: Optional[float] = None,
           auc_pr: Optional[float] = None) -> Optional[bytes]:
    """ROC (false positive rate against recall) and precision-recall curves of a binary task, from TFMA's
    confusion matrices at each threshold (threshold, tp, fp, tn, fn), with the chance lines."""
    used = sorted((p for p in points if math.isfinite(p[0])), key=lambda p: p[0])
    if not used or not used[0][1] + used[0][4] or not used[0][2] + used[0][3]:
        return None  # no positives or no negatives: neither curve is defined
    fpr = [fp / (fp + tn) for _, _, fp, tn, _ in used]
    tpr = [tp / (tp + fn) for _, tp, _, _, fn in used]
    precise = [(tp / (tp + fn), tp / (tp + fp)) for _, tp, fp, _, fn in used if tp + fp > 0]
    prevalence = (used[0][1] + used[0][4]) / sum(used[0][1:])
    figure, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    left.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    left.plot(fpr, tpr, label=f"AUC {auc:.4f}" if auc is not None else task)
    left.set_xlabel("false positive rate")
    left.set_ylabel("recall (true positive rate)")
    left.set_title(f"{task}: ROC")
    right.axhline(prevalence, linestyle="--", color="grey", label=f"chance ({prevalence:.3f})")
    right.plot([r for r, _ in precise], [p for _, p in precise],
               label=f"AUC-PR {auc_pr:.4f}" if auc_pr is not None else task)
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    right.set_title(f"{task}: precision-recall")
    for axis in (left, right):
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right" if axis is left else "lower left", fontsize=8)
    return _png(figure)


def regression(task: str, pairs: List[Tuple[float, float]]) -> Optional[bytes]:
    """Predicted against actual (with the line of perfect predictions) and residuals (actual - predicted)
    against predicted, for a sample of labelled eval rows."""
    if not pairs:
        return None
    actual, predicted = [a for a, _ in pairs], [p for _, p in pairs]
    figure, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    alpha = max(0.1, min(0.8, 200 / len(pairs)))
    left.scatter(actual, predicted, s=8, alpha=alpha)
    low, high = min(actual + predicted), max(actual + predicted)
    left.plot([low, high], [low, high], linestyle="--", color="grey", label="predicted = actual")
    left.set_xlabel(f"actual {task}")
    left.set_ylabel(f"predicted {task}")
    left.set_title(f"{task}: predicted vs actual ({len(pairs):,} eval rows)", fontsize=10)
    left.legend(loc="upper left", fontsize=8)
    right.scatter(predicted, [a - p for a, p in pairs], s=8, alpha=alpha)
    right.axhline(0.0, linestyle="--", color="grey")
    right.set_xlabel(f"predicted {task}")
    right.set_ylabel("residual (actual - predicted)")
    right.set_title(f"{task}: residuals", fontsize=10)
    for axis in (left, right):
        axis.grid(alpha=0.3)
    return _png(figure)
