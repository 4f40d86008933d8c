"""The report's fairness table: TFMA's fairness indicators of a binary task (`evaluation.fairness`) on each slice,
the rates at each decision threshold side by side, and each slice's largest gap to the Overall rate."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

from pipeline.metric_checks import fairness_columns, fairness_title
from pipeline.tfma_files import OVERALL

NOTE = ("Fairness indicators (TFMA): per decision threshold, the false positive rate (negatives flagged), the false "
        "negative rate (positives missed) and the share of rows flagged, on each slice; 'largest gap' is the "
        "slice's largest absolute difference to the Overall rate. A slice with few rows has wide noise.")


def rows(slices: Dict[str, Dict[str, float]], limit: int) -> Tuple[List[str], List[List[Optional[float]]], List[str]]:
    """(column titles, per slice its rates and largest gap to Overall, slice names), Overall first."""
    overall = slices.get(OVERALL, {})
    names = fairness_columns(overall or next(iter(slices.values())))
    titles = [fairness_title(n, " ") for n in names] + ["largest gap"]
    found, shown = [], []
    for name, values in list(slices.items())[:limit]:
        rates = [values.get(n) for n in names]
        gaps = [abs(v - overall[n]) for n, v in zip(names, rates)
                if v is not None and n in overall and math.isfinite(v) and math.isfinite(overall[n])]
        found.append(rates + [max(gaps) if gaps and name != OVERALL else None])
        shown.append(name)
    return titles, found, shown
