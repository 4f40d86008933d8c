"""What the gates say and the statistics lookups their checks share: a Finding is one (split, column, problem)
with whether it stops the run; DataValidationError carries the blocking ones."""
from dataclasses import dataclass
from typing import List, Optional

from tensorflow_metadata.proto.v0 import statistics_pb2


class DataValidationError(RuntimeError):
    """The data violates the schema or the config; the message lists each problem."""


@dataclass(frozen=True)
class Finding:
    split: str
    column: str
    problem: str
    blocking: bool

    def __str__(self) -> str:
        where = f"[{self.split}] " if self.split else ""
        return f"{where}{self.column}: {self.problem}"


def feature_stats(stats: statistics_pb2.DatasetFeatureStatistics,
                  column: str) -> Optional[statistics_pb2.FeatureNameStatistics]:
    return next((f for f in stats.features if (list(f.path.step) or [f.name]) == [column]), None)


def common_stats(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats") else \
        statistics_pb2.CommonStatistics()


def all_values(feature) -> Optional[List[str]]:
    """Every distinct value of a text-valued column, when the statistics hold all of them (else None)."""
    if feature.WhichOneof("stats") != "string_stats":
        return None
    buckets = [b.label for b in feature.string_stats.rank_histogram.buckets]
    return buckets if feature.string_stats.unique <= len(buckets) else None


def shown(values: List[str], limit: int = 6) -> str:
    return ", ".join(repr(v) for v in values[:limit]) + (", ..." if len(values) > limit else "")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
