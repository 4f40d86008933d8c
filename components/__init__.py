"""TFX components and the generated preprocessing_fn."""
import pipeline as _pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
