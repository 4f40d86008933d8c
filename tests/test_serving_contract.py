"""Raw feature dicts -> tf.Examples, and model outputs -> per-task answers (serving.contract), on a real
tf.train.Example round trip through tf.io.parse_example."""
import numpy as np
import pytest
import tensorflow as tf

from serving.contract import RequestError, latest_version
from helpers.contracts import CONTRACT

SPEC = {"message": tf.io.FixedLenFeature([], tf.string), "channel": tf.io.VarLenFeature(tf.string),
        "hour": tf.io.FixedLenFeature([], tf.int64), "age": tf.io.VarLenFeature(tf.float32)}


def test_rows_become_examples_the_serving_parser_reads():
    rows = [{"message": "where is my refund?! 😡", "channel": "app", "hour": 22, "age": 3.5},
            {"message": "", "channel": "", "hour": "7", "age": None},  # "" text is a value; "" channel missing
            {"message": "hi", "hour": 3.0}]
    parsed = tf.io.parse_example(CONTRACT.examples(rows), SPEC)
    assert [m.decode() for m in parsed["message"].numpy()] == ["where is my refund?! 😡", "", "hi"]
    assert parsed["hour"].numpy().tolist() == [22, 7, 3]
    assert tf.sparse.to_dense(parsed["channel"], b"-").numpy().ravel().tolist() == [b"app", b"-", b"-"]
    assert parsed["age"].indices.numpy().tolist() == [[0, 0]] and parsed["age"].values.numpy().tolist() == [3.5]


@pytest.mark.parametrize("row, message", [
    ({"message": "x", "hour": 1, "chanel": "app"}, r"row 0: 'chanel' is not a model feature; expected age, "
                                                    r"channel, hour, message"),
    ({"message": "x"}, r"row 0: 'hour' is required"),
    ({"message": None, "hour": 1}, r"row 0: 'message' is required"),
    ({"message": "x", "hour": "noon"}, r"row 0: 'hour' expects a number, got 'noon'"),
    ({"message": "x", "hour": 1.5}, r"row 0: 'hour' expects a whole number, got 1.5"),
    ({"message": "x", "hour": 1, "age": float("nan")}, r"row 0: 'age' expects a finite number"),
    ({"message": "x", "hour": True}, r"row 0: 'hour' expects a number, got bool"),
    ({"message": ["a", "b"], "hour": 1}, r"row 0: 'message' expects one text value, got list"),
    ("where is my order", r"row 0: expected an object of feature values, got str"),
])
def test_bad_rows_are_named_errors(row, message):
    with pytest.raises(RequestError, match=message):
        CONTRACT.examples([row])


def test_unknown_keys_can_be_dropped_for_rows_straight_from_a_csv():
    [example] = CONTRACT.examples([{"message": "x", "hour": 1, "intent": "refund"}], ignore_unknown=True)
    assert set(tf.train.Example.FromString(example).features.feature) == {"message", "hour"}


def test_answers_decode_every_task_type():
    outputs = {"intent": np.array([[0.1, 0.7, 0.2]]), "intent_label": np.array([b"delivery"]),
               "keywords": np.array([[0.9, 0.4]]), "keywords_label": np.array([b"order"]),
               "escalate": np.array([[0.83]]), "escalate_label": np.array([b"1"]),
               "minutes": np.array([[8.5]])}
    [answer] = CONTRACT.answers(outputs)
    assert answer["intent"]["label"] == "delivery"
    assert answer["intent"]["probabilities"] == pytest.approx({"refund": 0.1, "delivery": 0.7, "account": 0.2})
    assert answer["keywords"]["labels"] == ["order"]
    assert answer["escalate"] == {"label": "1", "probability": pytest.approx(0.83)}
    assert answer["minutes"] == {"value": 8.5}
    with pytest.raises(RequestError, match="no output 'minutes'"):
        CONTRACT.answers({k: v for k, v in outputs.items() if k != "minutes"})


def test_latest_version_skips_half_written_and_non_numeric_directories(tmp_path):
    for name, complete in (("100", True), ("300", False), ("200", True), ("tmp-400", True)):
        (tmp_path / name).mkdir()
        if complete:
            (tmp_path / name / "saved_model.pb").write_bytes(b"")
    assert latest_version(tmp_path).name == "200"
    assert latest_version(tmp_path / "100").name == "100"
    with pytest.raises(FileNotFoundError, match="no model version"):
        latest_version(tmp_path / "300")


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unreachable_server_is_retried_with_backoff_then_a_clear_unavailable_error(protocol):
    import time

    from serving.client import GrpcClient, RestClient, ServingClientError

    port = _closed_port()
    client = (RestClient(f"http://127.0.0.1:{port}", CONTRACT, timeout=2, retries=2, backoff=0.2) if protocol == "rest"
              else GrpcClient(f"127.0.0.1:{port}", CONTRACT, timeout=2, retries=2, backoff=0.2))
    start = time.perf_counter()
    with pytest.raises(ServingClientError, match="UNAVAILABLE") as error:
        client.predict([{"message": "hi", "hour": 1}])
    assert time.perf_counter() - start >= 0.2 + 0.4  # two waits before the third and last attempt
    assert error.value.code == "UNAVAILABLE"
