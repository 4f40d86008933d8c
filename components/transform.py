"""TFT `preprocessing_fn` generated from the config: one transform per feature type and per task type.

Outputs (names owned by `pipeline.config`):
- every feature under its own name: numeric -> its encoding (float32 z-score; int64 quantile-bin id; float32
  [bins] piecewise-linear), plus `<feature>__missing` (1.0 where the cell was filled); categorical -> int64
  vocabulary id (OOV buckets after the vocabulary; values rarer than min_frequency are OOV); text -> int64
  [max_tokens] token ids, 0 = padding, plus with `subwords` `<feature>__subwords` int64 [max_tokens, 16];
  cross -> int64 hash bucket of the crossed categorical values; vector -> float32 [size];
- per task `<task>__target` (binary 0/1 int64, multiclass label-vocabulary index int64, multilabel sparse
  label-vocabulary ids, regression float32, sequence_tagging int64 [max_tokens] tag ids aligned with the text
  feature's token ids, -1 at padding: pipeline/core/tags.py) and `<task>__mask` (1.0 where the row has a label, else 0.0).
Rows without a label get a placeholder target and mask 0, so they never count in that task's loss or metrics.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

import tensorflow as tf
import tensorflow_transform as tft

from components import vocabulary
from components.numeric_scaling import filled_z_score, piecewise_linear
from components.tokens import subwords, tokenize
from pipeline import config as cfg

MISSING_TOKEN = "__missing__"


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Dict[str, Any]) -> Dict[str, Any]:
    """Entry point referenced by import path; custom_config is `pipeline.config.data_contract(...)`."""
    config = cfg.DataContract.model_validate(custom_config)
    outputs = {}
    for name, feature in config.features.items():
        if feature.type != "cross" and name not in inputs:
            raise ValueError(f"features.{name}: column '{name}' is not in the data schema")
    vocabularies = feature_vocabularies(config, inputs)
    for name, feature in config.features.items():
        if feature.type == "cross":
            outputs[name] = cross(name, [inputs[source] for source in feature.of], feature)
            continue
        if name in vocabularies:  # categorical and text: their values and vocabulary
            encoded = _FEATURE_TRANSFORMS[feature.type](name, *vocabularies[name], feature)
        else:
            encoded = _FEATURE_TRANSFORMS[feature.type](name, inputs[name], feature)
        outputs.update(encoded if isinstance(encoded, dict) else {name: encoded})
    for task_name, task in config.tasks.items():
        if task.label not in inputs:
            raise ValueError(f"tasks.{task_name}.label: column '{task.label}' is not in the data schema")
        tokens = {"text": inputs[task.tokens_of], "feature": config.features[task.tokens_of]} if task.tokens_of else {}
        target, mask = LABEL_TRANSFORMS[task.type](task_name, inputs[task.label], task, **tokens)
        for key, column in (("where", task.where.column if task.where else None), ("weight_column", task.weight_column)):
            if column is not None and column not in inputs:
                raise ValueError(f"tasks.{task_name}.{key}: column '{column}' is not in the data schema")
        if task.where is not None:
            mask = mask * tf.cast(task_space(task_name, inputs[task.where.column], task.where), tf.float32)
        if task.weight_column is not None:
            mask = mask * sample_weights(task_name, inputs[task.weight_column])
        outputs[cfg.label_key(task_name)] = target
        outputs[cfg.mask_key(task_name)] = mask
    return outputs


def task_space(task_name: str, x, space: cfg.TaskSpace) -> tf.Tensor:
    """[batch] bool: the row is in the task's space (`tasks.X.where`); an empty cell is outside. Text is compared
    after stripping surrounding whitespace, numbers numerically."""
    where = f"tasks.{task_name}.where"
    present = _present(x)
    if x.dtype == tf.string:
        if space.values is None:
            raise ValueError(f"{where}: column '{space.column}' holds text in the data; a range (gt/ge/lt/le) "
                             "needs numbers, or use equals / in")
        values = tf.strings.strip(_to_dense(x, ""))
        return present & tf.not_equal(values, "") & _isin(values, [cfg.space_text(v) for v in space.values])
    values = tf.cast(_to_dense(x, 0), tf.float64)
    present &= tf.math.is_finite(values)
    if space.values is not None:
        return present & _isin(values, [_number(task_name, str(v), f"{where}.equals/in") for v in space.values])
    inside = present
    for bound, compare in ((space.gt, tf.greater), (space.ge, tf.greater_equal), (space.lt, tf.less),
                           (space.le, tf.less_equal)):
        if bound is not None:
            inside &= compare(values, tf.constant(bound, tf.float64))
    return inside


def sample_weights(task_name: str, x) -> tf.Tensor:
    """[batch] float32 of `tasks.X.weight_column`; an empty or non-finite cell weighs 0 (the DataGate stops a run
    on negative weights or all-zero ones)."""
    _require_number(task_name, x, f"tasks.{task_name}.weight_column")
    values = tf.cast(_to_dense(x, 0), tf.float32)
    return tf.where(_present(x) & tf.math.is_finite(values), values, 0.0)


# ------------------------------------------------------------------------------------------- helpers
def _to_dense(x, default) -> tf.Tensor:
    """A [batch] tensor from a [batch, 1] dense/sparse/ragged input; missing cells become `default`."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default_value=default)
    elif isinstance(x, tf.RaggedTensor):
        x = x.to_tensor(default_value=default, shape=[None, 1])
    return tf.reshape(x, [-1])


def _present(x) -> tf.Tensor:
    """[batch] bool: the row has a value in this column."""
    if isinstance(x, tf.SparseTensor):
        return _to_dense(tf.SparseTensor(x.indices, tf.ones_like(x.indices[:, 0]), x.dense_shape), 0) > 0
    if isinstance(x, tf.RaggedTensor):
        return x.row_lengths() > 0
    return tf.ones_like(_to_dense(x, _zero(x)), dtype=tf.bool)


def _zero(x):
    return "" if x.dtype == tf.string else 0


def _present_values(x) -> tf.Tensor:
    """The values actually present (for analyzers that must not see placeholders for missing cells)."""
    if isinstance(x, tf.SparseTensor):
        return x.values
    if isinstance(x, tf.RaggedTensor):
        return x.flat_values
    return tf.reshape(x, [-1])


def _as_string(x) -> Any:
    if x.dtype == tf.string:
        return x
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, _as_string(x.values), x.dense_shape)
    if isinstance(x, tf.RaggedTensor):
        return x.with_flat_values(_as_string(x.flat_values))
    if x.dtype.is_integer:
        return tf.strings.as_string(x)
    return tf.strings.as_string(x, shortest=True)


def _require_number(name: str, x, role: str):
    if x.dtype == tf.string:
        raise ValueError(f"{role}: column '{name}' holds text in the data, but a number is expected")


# ------------------------------------------------------------------------------------------- features
def _numeric(name: str, x, feature: cfg.NumericFeature) -> Dict[str, tf.Tensor]:
    """The encoded value under the feature's name (float [batch]; int64 bin id [batch] for `quantile`; float
    [batch, bins] for `piecewise_linear`) and, with missing_indicator, `<name>__missing`. Analyzers see only the
    values present, so filled cells do not move the mean or the bins."""
    _require_number(name, x, f"features.{name} (type numeric)")
    safe = cfg.safe_name(name)

    def prepare(values):
        values = tf.cast(values, tf.float32)
        if feature.log or feature.encoding == "log":
            values = tf.math.log1p(tf.maximum(values, 0.0))
        if feature.clip is not None:
            values = tf.clip_by_value(values, *feature.clip)
        return values

    present = _present(x)
    observed = prepare(_present_values(x))
    values = prepare(_to_dense(x, 0))
    if feature.fill is not None:
        fill = prepare(tf.constant(feature.fill, tf.float32))
    else:
        fill = tft.mean(observed, name=f"{safe}_fill_mean")
    filled = tf.where(present, values, fill)
    encoding = feature.encoding or "zscore"
    if encoding in cfg.BINNED_ENCODINGS:
        bins = feature.bins or cfg.Model.model_fields["numeric_bins"].default
        edges = tf.reshape(tft.quantiles(observed, num_buckets=bins, epsilon=1.0 / (10 * bins),
                                         name=f"{safe}_quantiles"), [-1])
        if encoding == "quantile":
            encoded = tft.apply_buckets(filled, tf.reshape(edges, [1, -1]))
        else:
            encoded = piecewise_linear(filled, edges, tft.min(observed, name=f"{safe}_min"),
                                       tft.max(observed, name=f"{safe}_max"), bins)
    else:
        encoded = filled_z_score(observed, present, filled, fill, feature.fill is None, safe)
    outputs = {name: encoded}
    if feature.missing_indicator:
        outputs[cfg.missing_key(name)] = 1.0 - tf.cast(present, tf.float32)
    return outputs


def _category_values(x) -> tf.Tensor:
    """[batch] strings of a categorical column; an empty or missing cell reads MISSING_TOKEN."""
    values = _to_dense(_as_string(x), MISSING_TOKEN)
    return tf.where(tf.equal(values, ""), MISSING_TOKEN, values)


def _frequency_threshold(feature) -> Any:
    return feature.min_frequency if (feature.min_frequency or 1) > 1 else None


def feature_vocabularies(config: cfg.DataContract, inputs: Mapping[str, Any]) -> Dict[str, tuple]:
    """Feature name -> (values, deferred vocabulary file) of every categorical and text feature: the values
    are the category strings / word tokens, the vocabularies all computed in one analyzer pass
    (components/vocabulary.py), each as `tft.vocabulary(values, top_k=vocab_size,
    frequency_threshold=min_frequency, vocab_filename=cfg.feature_vocab_name(name))` would write it."""
    values = {name: _VOCABULARY_VALUES[feature.type](name, inputs[name], feature)
              for name, feature in config.features.items() if feature.type in _VOCABULARY_VALUES}
    files = vocabulary.vocabularies({cfg.feature_vocab_name(name): (
        values[name], config.features[name].vocab_size, _frequency_threshold(config.features[name]))
        for name in values}, name="feature_vocabularies")
    return {name: (values[name], files[cfg.feature_vocab_name(name)]) for name in values}


def _categorical(name: str, values, vocab: tf.Tensor, feature: cfg.CategoricalFeature) -> tf.Tensor:
    """int64 [batch] vocabulary id of `_category_values`, OOV buckets after the vocabulary."""
    return tft.apply_vocabulary(values, vocab, num_oov_buckets=feature.oov_buckets,
                                name=f"{cfg.safe_name(name)}_vocab")


CROSS_SEPARATOR = "_X_"  # between the crossed values (tf.feature_column's crossed-column convention)


def cross(name: str, sources, feature: cfg.CrossFeature) -> tf.Tensor:
    """int64 [batch] in [0, buckets): the FarmHash bucket of the joined raw values of the crossed features."""
    joined = tf.strings.join([_category_values(x) for x in sources], separator=CROSS_SEPARATOR)
    return tft.hash_strings(joined, feature.buckets, name=f"{cfg.safe_name(name)}_cross")


def sequence_tags(task_name: str, x, task: cfg.Task, text, feature: cfg.TextFeature):
    """Tag ids [batch, max_tokens] (pipeline/core/tags.py: O 0, B-t 2t+1, I-t 2t+2 for the type vocabulary's
    index t, -1 at padding and at tags that are not BIO) and the row mask. A row's label counts only when it has
    exactly one tag per token of `tokens_of` (tokenized by the feature's rule, before the max_tokens cut): the
    DataGate stops the run on a misaligned row, so the mask here only keeps one from ever training."""
    _require_text(task.label, x)
    label = tf.strings.strip(_to_dense(x, ""))
    tag_list = tf.strings.split(label)
    aligned = tf.equal(tag_list.row_lengths(), tokenize(_to_dense(text, "")).row_lengths())
    known = _present(x) & tf.not_equal(label, "") & aligned
    flat = tag_list.flat_values
    typed, inside = tf.strings.regex_full_match(flat, "[BI]-.+"), tf.strings.regex_full_match(flat, "I-.+")
    kind = tf.strings.regex_replace(flat, "^[BI]-", "")
    in_known_row = tf.repeat(known, tag_list.row_lengths())
    vocabulary = tft.vocabulary(tf.boolean_mask(kind, typed & in_known_row),
                                vocab_filename=cfg.label_vocab_name(task_name), name=f"{task_name}_tag_types")
    type_ids = tft.apply_vocabulary(kind, vocabulary, num_oov_buckets=1)
    flat_ids = tf.where(typed, 2 * type_ids + 1 + tf.cast(inside, tf.int64),
                        tf.where(tf.equal(flat, "O"), tf.zeros_like(type_ids), -tf.ones_like(type_ids)))
    ids = tag_list.with_flat_values(flat_ids)[:, : feature.max_tokens].to_tensor(
        default_value=-1, shape=[None, feature.max_tokens])
    ids = tf.where(known[:, None], ids, tf.constant(-1, tf.int64))
    return ids, tf.cast(known, tf.float32)


def _text_tokens(name: str, x, feature: cfg.TextFeature) -> tf.RaggedTensor:
    """[batch, (<= max_tokens)] word tokens of a text column."""
    _require_text(name, x)
    return tokenize(_to_dense(x, ""))[:, : feature.max_tokens]


def _text(name: str, tokens, vocab: tf.Tensor, feature: cfg.TextFeature):
    """int64 [batch, max_tokens] token ids (0 is padding; vocabulary ids and OOV buckets start at 1), and with
    `subwords` int64 [batch, max_tokens, MAX_SUBWORDS] subword ids under `<name>__subwords` (0 = padding)."""
    ids = tft.apply_vocabulary(tokens, vocab, num_oov_buckets=feature.oov_buckets,
                               name=f"{cfg.safe_name(name)}_vocab")
    padded = ids.to_tensor(default_value=-1, shape=[None, feature.max_tokens]) + 1
    if not feature.subwords:
        return padded
    pieces = subwords(tokens, feature.subwords, cfg.MAX_SUBWORDS)
    return {name: padded, cfg.subword_key(name): pieces.to_tensor(
        default_value=0, shape=[None, feature.max_tokens, cfg.MAX_SUBWORDS])}


def _require_text(name: str, x):
    if x.dtype != tf.string:
        raise ValueError(f"features.{name} (type text): column '{name}' holds numbers, expected text")


def _vector(name: str, x, feature: cfg.VectorFeature) -> tf.Tensor:
    """float32 [batch, size]: a text cell's space-separated numbers, or a float list; an empty cell reads zeros
    (the DataGate has checked every row's length, so a cut or a pad here only meets serving requests)."""
    if x.dtype == tf.string:
        values = tf.strings.to_number(tf.strings.split(tf.strings.strip(_to_dense(x, ""))), tf.float32)
    elif isinstance(x, tf.SparseTensor):
        values = tf.RaggedTensor.from_sparse(tf.cast(x, tf.float32))
    else:
        values = tf.RaggedTensor.from_tensor(tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]), tf.float32))
    return values[:, : feature.size].to_tensor(default_value=0.0, shape=[None, feature.size])


_FEATURE_TRANSFORMS = {"numeric": _numeric, "categorical": _categorical, "text": _text, "vector": _vector}
_VOCABULARY_VALUES = {"categorical": lambda name, x, feature: _category_values(x), "text": _text_tokens}


# --------------------------------------------------------------------------------------------- labels
def _binary(task_name: str, x, task: cfg.Task):
    """Target 1 for the positive value, 0 for a negative one, mask 0 for anything else: an unknown value is
    never a negative (the DataGate stops the run on one unless `unknown_labels: unlabelled`). Text is matched
    after stripping surrounding whitespace, with its letter case (`cfg.Task.binary_roles`); without `negative`
    the negative is the one other value of the training data (the label vocabulary, also the served names)."""
    present = _present(x)
    if x.dtype == tf.string:
        values = tf.strings.strip(_to_dense(x, ""))
        if task.positive is None:
            lowered = tf.strings.lower(values)
            positive, negative = _isin(lowered, cfg.TRUE_STRINGS), _isin(lowered, cfg.FALSE_STRINGS)
        else:
            vocabulary = _binary_vocabulary(task_name, tf.strings.strip(_present_values(x)))
            positive = tf.equal(values, task.positive)
            if task.negative:
                negative = _isin(values, task.negative)
            else:  # the most frequent value that is not positive (the DataGate checks there is only one)
                index = tft.apply_vocabulary(values, vocabulary, default_value=-1)
                first = tft.apply_vocabulary(tf.constant([task.positive]), vocabulary, default_value=-1)[0]
                other = tf.where(tf.equal(first, 0), tf.constant(1, tf.int64), tf.constant(0, tf.int64))
                negative = tf.equal(index, other) & ~positive
    else:
        values = tf.cast(_to_dense(x, 0), tf.float64)
        present &= tf.math.is_finite(values)  # NaN is no label (and a DataGate finding)
        if task.positive is None:
            positive = values > 0.5
            negative = ~positive
        else:
            _binary_vocabulary(task_name, _as_string(_present_values(x)))
            number = _number(task_name, task.positive)
            positive = tf.equal(values, number)
            if task.negative:
                negative = _isin(values, [_number(task_name, v) for v in task.negative])
            else:  # the one other value: the other end of the range (the DataGate checks there is one)
                kept = tf.cast(_present_values(x), tf.float64)
                kept = tf.boolean_mask(kept, tf.math.is_finite(kept))
                low, high = tft.min(kept, name=f"{task_name}_label_min"), tft.max(kept, name=f"{task_name}_label_max")
                negative = tf.equal(values, tf.where(tf.equal(high, number), low, high)) & ~positive
    known = present & (positive | negative)
    return tf.cast(positive & known, tf.int64), tf.cast(known, tf.float32)


def _number(task_name: str, text: str, key: str = "") -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key or f'tasks.{task_name}.positive/negative'}: {text!r} is not a number, but the "
                         "column holds numbers") from None


def _isin(values, choices) -> tf.Tensor:
    return tf.reduce_any(tf.equal(values[:, None], tf.constant(list(choices), values.dtype)[None, :]), axis=1)


def _binary_vocabulary(task_name: str, present_values):
    """The label values of the training data (most frequent first): the negative's name at serving time."""
    return tft.vocabulary(present_values, vocab_filename=cfg.label_vocab_name(task_name),
                          name=f"{task_name}_label_vocab")


def _class_ids(task_name: str, task: cfg.Task, values, present_values):
    """Label strings -> class index, -1 if unknown: position in the declared `classes`, else in a label
    vocabulary (most frequent first) computed over `present_values` (never the placeholders of empty cells)."""
    if task.classes:
        def index(flat):
            equal = tf.equal(flat[:, None], tf.constant(task.classes)[None, :])
            return tf.where(tf.reduce_any(equal, axis=1), tf.argmax(tf.cast(equal, tf.int64), axis=1), -1)
        return tf.ragged.map_flat_values(index, values) if isinstance(values, tf.RaggedTensor) else index(values)
    vocab = tft.vocabulary(present_values, vocab_filename=cfg.label_vocab_name(task_name),
                           name=f"{task_name}_label_vocab")
    return tft.apply_vocabulary(values, vocab, default_value=-1)


def _multiclass(task_name: str, x, task: cfg.Task):
    x = _as_string(x)
    ids = _class_ids(task_name, task, tf.strings.strip(_to_dense(x, "")), tf.strings.strip(_present_values(x)))
    known = _present(x) & (ids >= 0)
    return tf.maximum(ids, 0), tf.cast(known, tf.float32)


def _multilabel(task_name: str, x, task: cfg.Task):
    x = _as_string(x)
    present = _present(x)
    tokens = tf.strings.strip(tf.strings.split(_to_dense(x, ""), sep=task.label_separator))
    tokens = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
    ids = _class_ids(task_name, task, tokens, tokens.flat_values)
    ids = tf.ragged.boolean_mask(ids, ids >= 0)
    return ids.to_sparse(), tf.cast(present, tf.float32)


def _regression(task_name: str, x, task: cfg.Task):
    _require_number(task.label, x, f"tasks.{task_name}.label (type regression)")
    present = _present(x)
    values = tf.cast(_to_dense(x, 0), tf.float32)
    finite = present & tf.math.is_finite(values)
    return tf.where(finite, values, 0.0), tf.cast(finite, tf.float32)


LABEL_TRANSFORMS = {"binary": _binary, "multiclass": _multiclass, "multilabel": _multilabel,
                     "regression": _regression, "sequence_tagging": sequence_tags}
