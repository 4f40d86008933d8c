"""Numeric encodings of components/transform.py that are pure TF/TFT functions of already prepared columns: the
z-score of a filled column in one analysis pass and Gorishniy et al.'s piecewise-linear encoding."""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft


def filled_z_score(observed, present, filled, fill, fill_is_mean: bool, safe: str) -> tf.Tensor:
    """tft.scale_to_z_score(filled) (population variance; a zero variance only centres) from analyzers of the
    present values alone, so it needs no second pass over the data after the fill's mean (`fill`, then the
    analyzer of the present values' mean itself): with p the share of present cells, m and v the mean and
    variance of the present values and c the fill, the filled column has mean p m + (1 - p) c and variance
    p (v + (m - mean)^2) + (1 - p) (c - mean)^2; for c = m that is m and p v."""
    m = fill if fill_is_mean else tft.mean(observed, name=f"{safe}_zscore_mean")
    v = tft.var(observed, name=f"{safe}_zscore_var")
    p = tft.mean(tf.cast(present, tf.float32), name=f"{safe}_present_share")
    if fill_is_mean:
        mean, var = m, p * v
    else:
        mean = p * m + (1.0 - p) * fill
        var = p * (v + tf.square(m - mean)) + (1.0 - p) * tf.square(fill - mean)
    centred = filled - mean
    deviation = tf.sqrt(var)
    return tf.where(tf.not_equal(deviation, 0), centred / deviation, centred)


def piecewise_linear(x, edges, low, high, bins: int) -> tf.Tensor:
    """PLE (Gorishniy et al. 2022, eq. 1): bin t = [b_t, b_t+1) of the bounds low, edges..., high gives
    clip((x - b_t) / (b_t+1 - b_t), 0, 1), so bins below x read 1, bins above 0, x's own bin its fraction. A bin
    of width 0 (repeated edges from tied values) reads 1 from its bound on. [batch] -> [batch, bins]."""
    bounds = tf.reshape(tf.concat([tf.reshape(low, [1]), edges, tf.reshape(high, [1])], axis=0), [bins + 1])
    lower, upper = bounds[:-1], bounds[1:]
    width = upper - lower
    column = tf.reshape(x, [-1, 1])
    fraction = tf.clip_by_value(tf.math.divide_no_nan(column - lower, width), 0.0, 1.0)
    return tf.where(width > 0, fraction, tf.cast(column >= upper, tf.float32))
