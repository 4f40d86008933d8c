"""The serving load test on the tiny model (tests/helpers/load.py): 4 threads x 500 requests over REST keep-alive
and gRPC while a new version is copied in and taken over, then 64 clients at once; zero failed requests. The same
test on a real pushed model runs in tests/test_serving_e2e.py."""
import shutil

import pytest

from helpers.load import check, run_load
from helpers.tiny_model import export_tiny
from serving.contract import ModelContract


@pytest.mark.slow  # ~35 s: 2,000 requests through the swap, 1,920 from 64 clients at once
def test_4_threads_x_500_requests_through_a_version_swap_and_64_concurrent_clients_fail_nothing(tmp_path):
    version = export_tiny(tmp_path / "export" / "1")
    base = tmp_path / "tiny"
    shutil.copytree(version, base / "1")
    serialized = ModelContract.load(version).examples([{"x": float(i), "n": i} for i in range(4)])
    result = run_load(base, "tiny", serialized)
    check(result)
