"""Run `mtl ARGS...` with the network audit hook installed, then write what it recorded as JSON to
$MTL_NETWORK_LOG. Used by test_no_network.py inside a network namespace that has only loopback."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network_audit  # noqa: E402

network_audit.install()

from pipeline.cli import main  # noqa: E402

try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    with open(os.environ["MTL_NETWORK_LOG"], "w") as f:
        json.dump(network_audit.attempts, f)
