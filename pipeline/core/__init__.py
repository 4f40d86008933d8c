"""The TensorFlow-free core that every package reads: the config records and the task-kind table, derived
names, the run-directory layout, the file formats written in one package and read in another (model contract,
drift measurements, the CSV reader) and the project's import graph.

Nothing here imports TensorFlow, TFX or Beam, so the CLI, the report and the cache fingerprints can use it
without loading them."""
