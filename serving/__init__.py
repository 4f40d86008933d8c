"""Serving: TF Serving clients, local server and deployment files."""
import pipeline as _pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
