"""The TensorFlow-free core that every package reads: run-directory layout and the project's import graph.

Nothing here imports TensorFlow, TFX or Beam, so the CLI, the report and the cache fingerprints can use it
without loading them."""
