"""`mtl run`'s progress lines from the runner's real log records, and the log file that takes everything else."""
import logging
import sys
import warnings

from absl import logging as absl_logging

from pipeline import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_component_lines_quick_ones_only_at_the_end_long_ones_announced_and_repeated():
    lines, clock = [], Clock()
    handler = progress.ComponentProgress(lines.append, clock)
    root, absl, mine = logging.getLogger(), logging.getLogger("absl"), logging.getLogger(progress.PROGRESS_LOGGER)
    levels = [(logger, logger.level) for logger in (root, absl, mine)]
    for logger, _ in levels:
        logger.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        absl_logging.info("Component %s is running.", "ImportSchemaGen")
        absl_logging.info("A cached execution %d is used.", 3)
        clock.now += 0.1
        handler.tick()
        absl_logging.info("Component %s is finished.", "ImportSchemaGen")
        absl_logging.info("Component %s is running.", "Transform")
        clock.now += 1.0
        handler.tick()  # not yet announced
        clock.now += 1.5
        handler.tick()
        clock.now += 10
        handler.tick()  # next line only after HEARTBEAT_SECONDS
        clock.now += progress.HEARTBEAT_SECONDS
        handler.tick()
        logging.getLogger(progress.PROGRESS_LOGGER).info("epoch 1/3: loss 0.5")
        absl_logging.info("Component %s is finished.", "Transform")
        absl_logging.info("Component %s is running.", "DataGate")
        clock.now += 0.5
        absl_logging.error("Execution %d failed.", 9)
    finally:
        root.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)
    assert [line.split() for line in lines] == [
        ["ImportSchemaGen", "cached", "0.1", "s"],
        ["Transform", "running", "2", "s"],
        ["Transform", "running", "42", "s"],  # 42.5 s
        ["epoch", "1/3:", "loss", "0.5"],
        ["Transform", "done", "42.5", "s"],
        ["DataGate", "FAILED", "after", "0.5", "s"]]


def test_output_folders_of_one_execution_are_folded():
    base = "/runs/x"
    assert progress.shown_paths(["/runs/x/tfx/Trainer/model_run/7", "/runs/x/tfx/Trainer/model/7"], base) == (
        "tfx/Trainer/{model,model_run}/7")
    assert progress.shown_paths(["/runs/x/tfx/CsvExampleGen/examples/1"], base) == "tfx/CsvExampleGen/examples/1"
    assert progress.shown_paths(["/elsewhere/a/1", "/runs/x/tfx/T/b/2"], base) == "../../elsewhere/a/1, tfx/T/b/2"
    assert progress.shown_paths(["gs://b/root/T/k/3"], base) == "gs://b/root/T/k/3"


def test_reading_the_outputs_does_not_deadlock_on_mlmd_own_log_record(tmp_path):
    """Opening the MLMD store logs a record while the handler is handling one; that must not block the run."""
    import threading

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    metadata_store.MetadataStore(connection)  # a real, empty database
    lines = []
    handler = progress.ComponentProgress(lines.append, Clock(), output=str(tmp_path))
    root, absl = logging.getLogger(), logging.getLogger("absl")
    levels = [(logger, logger.level) for logger in (root, absl)]
    for logger, _ in levels:  # earlier tests in the session may have raised them
        logger.setLevel(logging.INFO)
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    root.addHandler(handler)

    def component():
        absl_logging.info("Component %s is running.", "StatisticsGen")
        absl_logging.info("A cached execution %d is used.", 1)
        absl_logging.info("Component %s is finished.", "StatisticsGen")

    try:
        worker = threading.Thread(target=component, daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "the progress handler deadlocked"
    finally:
        root.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)
        absl_logging.set_verbosity(verbosity)
    assert [line.split()[:2] for line in lines] == [["StatisticsGen", "cached"]]


def test_live_sends_everything_to_the_log_file_and_restores_logging(tmp_path):
    root = logging.getLogger()
    before = root.handlers[:]
    tf_logger = logging.getLogger("tensorflow")  # as tf.get_logger() sets it up: own stderr handler
    tf_stream = logging.StreamHandler(sys.stderr)
    tf_logger.handlers, tf_logger.propagate = [tf_stream], False
    shown = []
    with progress.live(str(tmp_path), shown.append) as path:
        absl_logging.warning("a TFX warning")
        tf_logger.warning("a TensorFlow warning")
        logging.getLogger("apache_beam").info("a Beam line")
        warnings.warn("a Python warning")
        absl_logging.set_verbosity(absl_logging.WARNING)  # as a library does during the Trainer
        logging.getLogger().setLevel(logging.ERROR)
        absl_logging.info("Component %s is running.", "Pusher")
        absl_logging.info("Component %s is finished.", "Pusher")
    text = open(path).read()
    assert "a TFX warning" in text and "a Beam line" in text and "a Python warning" in text
    assert path.startswith(str(tmp_path / progress.LOG_DIR))
    assert shown[0] == f"log: {path}" and shown[1].split()[:2] == ["Pusher", "done"]
    assert not any("warning" in line for line in shown)  # logs stay out of the progress
    assert root.handlers == before and "setLevel" not in vars(root)
    assert "a TensorFlow warning" in text and tf_logger.handlers == [tf_stream] and not tf_logger.propagate
