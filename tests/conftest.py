"""Shared test set-up: importing the project first sets TF_USE_LEGACY_KERAS before TensorFlow loads."""
import os
import sys

import pipeline  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
sys.path.insert(0, REPO)
