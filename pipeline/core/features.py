"""Config records of the model inputs: numeric, categorical, text and vector features (`features.X`), and crosses
of categorical features (a derived input: its name is not a data column)."""
from __future__ import annotations

from typing import Annotated, ClassVar, Dict, List, Literal, Optional, Tuple, Union

from pydantic import Field, field_validator, model_validator

from pipeline.core.config_base import ENCODER_LAYERS, ENCODER_OPTIONS, TEXT_ENCODERS, _Strict, _WithOptions

FEATURE_TYPES = ("numeric", "categorical", "text", "cross", "vector")
# How a number enters the model (docs/tabular.md): zscore = (x - mean) / std; log = zscore of
# log1p(x); quantile = the id of its training-quantile bin, embedded; piecewise_linear = Gorishniy et al. 2022's
# PLE over training-quantile bins (one value in [0, 1] per bin); periodic = zscore, then learned sin/cos
# frequencies. The bins are computed by TFT, so they live in the serving graph.
NUMERIC_ENCODINGS = ("zscore", "log", "quantile", "piecewise_linear", "periodic")
BINNED_ENCODINGS = ("quantile", "piecewise_linear")
MAX_SUBWORDS = 16  # subword ids kept per token (its shape, then its first 15 character 3-grams)
DEFAULT_SUBWORDS = 4096  # subword buckets of a text that a tagging task reads (bench/atis.py, 2026-12-08)


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


class TextFeature(_WithOptions):
    """Free text: lower-cased, split into word tokens, mapped to vocabulary ids, padded to max_tokens, embedded,
    then read by its `encoder`, which gives each token a state (what a sequence-tagging task reads) and the row
    one pooled vector, the mean of the states over its real tokens (what sentence-level tasks read). Padding
    never changes a real token's state. `bag` (default): the token embeddings themselves, blind to word order;
    cheapest, and enough when the words alone decide the label (topics, keywords). `cnn`: stacked width-3
    convolutions, so each state sees 1 + 2 x encoder_layers neighbouring tokens; fast, catches short phrases and
    negations ("not good"). `bilstm` / `bigru`: a bidirectional LSTM / GRU, each state sees the whole text in
    order; for tagging and order over longer spans, slowest to train (sequential; GRU is the lighter one).
    `transformer`: sinusoidal positions and self-attention blocks, each token attends to every other; for
    longer texts with plenty of data, its cost grows with max_tokens squared."""

    selector: ClassVar[str] = "encoder"
    options: ClassVar[Dict[str, Tuple[str, ...]]] = ENCODER_OPTIONS

    type: Literal["text"] = Field(description="selects the text transform (word tokens -> ids -> embeddings -> "
                                  "`encoder`)")
    max_tokens: int = Field(32, gt=0, le=4096, description="tokens kept per cell (the rest is cut); shorter "
                            "texts are padded")
    vocab_size: int = Field(20000, gt=0, description="most frequent tokens kept in the vocabulary")
    oov_buckets: int = Field(1, ge=1, description="hash buckets for tokens outside the vocabulary")
    min_frequency: Optional[int] = Field(None, ge=1, description="tokens seen fewer times share the OOV "
                                         "bucket(s); default: model.min_frequency")
    encoder: Literal[TEXT_ENCODERS] = Field(
        "bag", description="how token embeddings become per-token states and the pooled vector: bag (mean of "
        "embeddings, no word order) | cnn (width-3 convolutions) | bilstm / bigru (bidirectional LSTM / GRU) | "
        "transformer (self-attention); see this section's introduction")
    encoder_units: Optional[int] = Field(None, gt=0, le=4096, description="width of the states and the pooled "
                                         "vector (even for bilstm/bigru: half per direction)")
    encoder_layers: Optional[int] = Field(None, gt=0, le=16, description="stacked convolutions (cnn), recurrent "
                                          "layers (bilstm/bigru) or attention blocks (transformer); default 2 "
                                          "for cnn and transformer, 1 for bilstm and bigru")
    encoder_heads: Optional[int] = Field(None, gt=0, le=64, description="transformer: attention heads (each "
                                         "of width encoder_units / heads)")
    encoder_dropout: Optional[float] = Field(None, ge=0, lt=1, description="in training, dropout on the token "
                                             "embeddings going into the encoder and on the states coming out "
                                             "(0 = off)")
    word_dropout: float = Field(0.0, ge=0, lt=1, description="in training, the share of known tokens read as "
                                "out-of-vocabulary (their subwords and context kept), so the model learns what to do "
                                "with the unseen words serving will meet (Lample et al. 2016); 0 = off")
    subwords: Optional[int] = Field(None, ge=0, le=1 << 22, description="hash buckets for each token's "
                                    "character 3-grams and word shape (`dh8` -> `<dh`, `dh8`, `h8>`, shape `aa0`), "
                                    "whose mean embedding is added to the word's, so words outside the vocabulary "
                                    "(codes, numbers, misspellings) still get a meaning (fastText's subword "
                                    f"vectors); 0 = off; default {DEFAULT_SUBWORDS} for a text a sequence_tagging "
                                    "task reads (tokens_of), else 0")

    @model_validator(mode="after")
    def _even_rnn_units(self):
        if self.encoder in ("bilstm", "bigru") and self.encoder_units is not None and self.encoder_units % 2:
            raise ValueError(f"encoder_units: {self.encoder} splits the units between its two directions; give "
                             f"an even number, not {self.encoder_units}")
        return self

    def setting(self, name: str):
        if name == "encoder_layers" and self.encoder_layers is None:
            return ENCODER_LAYERS.get(self.encoder, 1)
        return super().setting(name)


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
