"""configs/funnel.yaml (ESMM: ctr, cvr on clicked rows, ctcvr = ctr x cvr) through the whole pipeline on generated
impressions (slow): BLESSED and pushed, the cvr task evaluated on exactly the clicked eval rows, served over REST
and gRPC with pCTR, pCVR and pCTCVR (the product of the other two), and the report stating the task space."""
import csv
import os

import numpy as np
import pytest
import yaml

from serving.client import GrpcClient, RestClient
from serving.contract import ModelContract
from serving.server import ModelServer

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURES = ("user_id", "user_segment", "user_interest", "item_id", "item_category", "price", "device", "hour",
            "position")


@pytest.fixture(scope="module")
def funnel_run(tmp_path_factory):
    from components.datasets import funnel
    from pipeline import config as cfg
    from pipeline.runners import local

    os.chdir(REPO)
    data = tmp_path_factory.mktemp("funnel-data")
    funnel.generate(data, rows=40000, seed=5, eval_fraction=0.25)
    raw = yaml.safe_load(open(os.path.join(REPO, "configs", "funnel.yaml")))
    raw["data"] = {"train": str(data / "train.csv"), "eval": str(data / "eval.csv")}
    raw["output"] = str(tmp_path_factory.mktemp("funnel-run"))
    raw["training"] = {**raw["training"], "epochs": 3}
    for task in raw["tasks"].values():  # 10,000 eval rows (~15 conversions): bars only where the data allows
        task.pop("thresholds", None)
    raw["tasks"]["ctr"]["thresholds"] = {"auc": {"min": 0.55}}  # measured 0.609 (seed 5): the plumbing, not quality
    config = cfg.parse_config(raw)
    return config, local.run(config)


def test_blessed_with_cvr_counted_on_clicked_eval_rows_only(funnel_run):
    config, summary = funnel_run
    assert summary.verdict == "BLESSED" and summary.pushed_to, summary.render()
    rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))
    counts = {m.task: m.value for m in summary.metrics if m.metric == "example_count"}
    assert counts["ctr"] == counts["ctcvr"] == len(rows)
    assert counts["cvr"] == sum(r["click"] == "1" for r in rows) < len(rows) / 10


def test_served_over_rest_and_grpc_with_the_product_of_ctr_and_cvr(funnel_run):
    config, summary = funnel_run
    rows = [{k: r[k] for k in FEATURES}
            for r in list(csv.DictReader(open(config.data.eval, encoding="utf-8")))[:12]]
    contract = ModelContract.load(summary.pushed_to)
    running = ModelServer(os.path.dirname(summary.pushed_to), config.name, rest_port=0, grpc_port=0).start()
    try:
        rest = RestClient(f"http://127.0.0.1:{running.rest_port}", contract)
        grpc_client = GrpcClient(f"127.0.0.1:{running.grpc_port}", contract)
        answers = {"rest": rest.predict(rows), "grpc": grpc_client.predict(rows)}
        classified = grpc_client.classify(rows, "ctcvr")
        grpc_client.close()
    finally:
        running.stop()
    for answered in answers.values():
        ctr, cvr, ctcvr = (np.array([a[t]["probability"] for a in answered]) for t in ("ctr", "cvr", "ctcvr"))
        np.testing.assert_allclose(ctcvr, ctr * cvr, rtol=1e-5)
        assert (ctcvr <= ctr).all() and {a["ctcvr"]["label"] for a in answered} <= {"0", "1"}
    np.testing.assert_allclose([a["ctcvr"]["probability"] for a in answers["rest"]],
                               [a["ctcvr"]["probability"] for a in answers["grpc"]], rtol=1e-5)
    np.testing.assert_allclose([c["1"] for c in classified], [a["ctcvr"]["probability"] for a in answers["grpc"]],
                               rtol=1e-5)  # TF Serving's Classify on classify_ctcvr: the same product


def test_report_states_each_task_space(funnel_run):
    from pipeline.report import write_report

    config, _ = funnel_run
    written = write_report(config.output_dir)
    text = open(written.markdown, encoding="utf-8").read()
    assert "Task space click = 1 (rows outside it are unlabelled for this task)" in text
    assert "Probability = ctr × cvr (no tower of its own)." in text
