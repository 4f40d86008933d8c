"""Multi-task learning pipeline on TFX: config contract, pipeline definition, runners and CLI."""
import os as _os

# Keras 3 breaks the TFX Keras path; the legacy switch only works before TensorFlow is first imported, so the
# project sets it on import of any of its packages (users never have to remember it).
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
