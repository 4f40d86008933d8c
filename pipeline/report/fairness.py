"""The report's fairness table: TFMA's fairness indicators of a binary task (`evaluation.fairness`) on each slice,
the rates at each decision threshold side by side, and each slice's largest gap to the Overall rate."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

from pipeline.tfma_files import OVERALL

RATES = {"false_positive_rate": "FPR", "false_negative_rate": "FNR", "positive_rate": "positive rate"}
NOTE = ("Fairness indicators (TFMA): per decision threshold, the false positive rate (negatives flagged), the false "
        "negative rate (positives missed) and the share of rows flagged, on each slice; 'largest gap' is the "
        "slice's largest absolute difference to the Overall rate. A slice with few rows has wide noise.")


def columns(values: Dict[str, float]) -> List[str]:
    """The indicators shown, rate by rate then threshold: false_positive_rate@0.3, ..."""
    names = [n for n in values if n.partition("@")[0] in RATES]
    return sorted(names, key=lambda n: (list(RATES).index(n.partition("@")[0]), float(n.partition("@")[2] or 0)))


def rows(slices: Dict[str, Dict[str, float]], limit: int) -> Tuple[List[str], List[List[Optional[float]]], List[str]]:
    """(column titles, per slice its rates and largest gap to Overall, slice names), Overall first."""
    overall = slices.get(OVERALL, {})
    names = columns(overall or next(iter(slices.values())))
    titles = [f"{RATES[n.partition('@')[0]]} @{n.partition('@')[2]}" for n in names] + ["largest gap"]
    found, shown = [], []
    for name, values in list(slices.items())[:limit]:
        rates = [values.get(n) for n in names]
        gaps = [abs(v - overall[n]) for n, v in zip(names, rates)
                if v is not None and n in overall and math.isfinite(v) and math.isfinite(overall[n])]
        found.append(rates + [max(gaps) if gaps and name != OVERALL else None])
        shown.append(name)
    return titles, found, shown
