"""The predictor answers on one OpenMP thread: for request-sized inputs the machine's threads
cost more than they save (and take the cores other requests need)."""

import json
import subprocess
import sys


def test_a_loaded_scorer_leaves_openmp_on_one_thread(trained):
    code = (
        "import json, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from shipyard.model.bundle import load_bundle\n"
        "from shipyard.serving.predictor import Scorer\n"
        "Scorer(load_bundle(sys.argv[1]))\n"
        "print(json.dumps([(i['internal_api'], i['num_threads']) for i in threadpool_info()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(trained.bundle_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    openmp = [threads for api, threads in pools if api == "openmp"]
    assert openmp and all(threads == 1 for threads in openmp), pools
