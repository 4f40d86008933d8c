"""Config records of the model inputs: numeric, categorical, text and vector features (`features.X`), and crosses
of categorical features (a derived input: its name is not a data column)."""
from __future__ import annotations

from typing import Annotated, List, Literal, Optional, Tuple, Union

from pydantic import Field, field_validator

from pipeline.core.config_base import _Strict

FEATURE_TYPES = ("numeric", "categorical", "text", "cross", "vector")
# How a number enters the model (docs/tabular.md): zscore = (x - mean) / std; log = zscore of
# log1p(x); quantile = the id of its training-quantile bin, embedded; piecewise_linear = Gorishniy et al. 2022's
# PLE over training-quantile bins (one value in [0, 1] per bin); periodic = zscore, then learned sin/cos
# frequencies. The bins are computed by TFT, so they live in the serving graph.
NUMERIC_ENCODINGS = ("zscore", "log", "quantile", "piecewise_linear", "periodic")
BINNED_ENCODINGS = ("quantile", "piecewise_linear")


class NumericFeature(_Strict):
    """Float input: optional log1p, clip and fill steps, then the encoding (z-score, quantile bins, PLE, periodic)
    and a missing-value indicator."""

    type: Literal["numeric"] = Field(description="selects the numeric transform (see `encoding`)")
    encoding: Optional[Literal[NUMERIC_ENCODINGS]] = Field(
        None, description="zscore | log | quantile | piecewise_linear | periodic; default: model.numeric_encoding")
    bins: Optional[int] = Field(None, ge=2, le=1024, description="quantile / piecewise_linear: training-quantile "
                                "bins; default: model.numeric_bins")
    log: bool = Field(False, description="take log1p of the value (negative values count as 0) before clipping "
                      "and encoding")
    clip: Optional[Tuple[float, float]] = Field(None, description="[low, high]: clip the (logged) value to this "
                                                "range before encoding")
    fill: Optional[float] = Field(None, description="value for missing cells; default: the column mean")
    missing_indicator: bool = Field(True, description="also give the model a 0/1 input saying the cell was "
                                    "missing (filled)")

    @field_validator("clip")
    @classmethod
    def _ordered(cls, v):
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"must be [low, high] with low < high, got {list(v)}")
        return v


class CategoricalFeature(_Strict):
    """String or integer category, mapped to a vocabulary id (most frequent first) plus OOV buckets."""

    type: Literal["categorical"] = Field(description="selects the vocabulary transform (id + embedding)")
    vocab_size: Optional[int] = Field(None, gt=0, description="keep the most frequent values only")
    oov_buckets: int = Field(1, ge=1, description="hash buckets for values outside the vocabulary (unseen, or "
                             "cut by vocab_size / min_frequency)")
    min_frequency: Optional[int] = Field(None, ge=1, description="values seen in fewer training rows share the "
                                         "OOV bucket(s), so unseen values meet a trained embedding; default: "
                                         "model.min_frequency")


class TextFeature(_Strict):
    """Free text: lower-cased, split into word tokens, mapped to vocabulary ids, padded to max_tokens."""

    type: Literal["text"] = Field(description="selects the text transform (word tokens -> ids, mean-pooled "
                                  "embeddings)")
    max_tokens: int = Field(32, gt=0, le=4096, description="tokens kept per cell (the rest is cut); shorter "
                            "texts are padded")
    vocab_size: int = Field(20000, gt=0, description="most frequent tokens kept in the vocabulary")
    oov_buckets: int = Field(1, ge=1, description="hash buckets for tokens outside the vocabulary")
    min_frequency: Optional[int] = Field(None, ge=1, description="tokens seen fewer times share the OOV "
                                         "bucket(s); default: model.min_frequency")


class CrossFeature(_Strict):
    """Crossed categorical features: the joint value of the `of` features (their raw values, an empty cell as
    its own value) hashed into `buckets` ids in TFT, then embedded (explicit feature crosses, Cheng et al. 2016's
    wide part). The name is the input's own; it is not a data column."""

    type: Literal["cross"] = Field(description="selects the hashed cross of categorical features")
    of: List[str] = Field(min_length=2, description="the categorical features crossed (at least two)")
    buckets: int = Field(1024, ge=2, le=10_000_000, description="hash buckets of the joint value (collisions "
                         "share an embedding)")

    @field_validator("of")
    @classmethod
    def _distinct(cls, v):
        if len(set(v)) != len(v):
            raise ValueError(f"lists a feature twice: {v}")
        return v


class VectorFeature(_Strict):
    """A fixed-length float vector per row, e.g. a precomputed sentence embedding: in CSV one cell of `size`
    space-separated numbers, in tf.Example a float list. Fed to the model as it is (an empty cell reads zeros);
    the DataGate stops the run on a row of another length or with a value that is not a number."""

    type: Literal["vector"] = Field(description="selects the vector input (the numbers as they are)")
    size: int = Field(ge=1, le=65536, description="numbers per row (e.g. 768 for BERT-base sentence vectors)")


Feature = Annotated[Union[NumericFeature, CategoricalFeature, TextFeature, CrossFeature, VectorFeature],
                    Field(discriminator="type")]
VOCABULARY_TYPES = ("categorical", "text")  # features whose ids come from a TFT vocabulary
