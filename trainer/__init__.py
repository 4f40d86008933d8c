"""Keras multi-task trainer: run_fn, model, heads and export."""
import pipeline as _pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
