"""Benchmark: what asking for ``contributions`` or ``outlier_score`` costs at the predictor.

For each model family the train step offers by default (HistGradientBoosting) and XGBoost, with
their default parameters, trained on the synthetic transactions: the real predictor server
(``shipyard-predictor``) on 127.0.0.1 answers 1-row and 256-row v2 JSON requests, with the
default outputs, with ``contributions`` + ``contributions_base`` added, and with
``outlier_score`` + ``is_outlier`` added. One keep-alive
client sends the requests one after another (bodies encoded once); p50 and p90 of the
round-trip are reported, the plain and explained requests alternating so drift on a busy
machine hits both alike.

    python benchmarks/contributions.py --requests 300
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path

FAMILIES = ("hist_gradient_boosting", "xgboost")
EXPLAINED = [{"name": "contributions"}, {"name": "contributions_base"}]
UNUSUAL = [{"name": "outlier_score"}, {"name": "is_outlier"}]


def bundle(folder: Path, name: str, rows: int) -> tuple[Path, object, object]:
    """A bundle of ``name`` with default parameters, as the train step saves it."""
    from shipyard.data.features import canonical_frame
    from shipyard.data.schema import infer_schema
    from shipyard.data.synthetic import generate_transactions
    from shipyard.model.bundle import save_bundle
    from shipyard.model.contributions import reference_extra
    from shipyard.model.families import family, make_pipeline
    from shipyard.model.outlier import fit_outlier_scorer
    from shipyard.model.parity import probe_rows
    from shipyard.model.task import encode_labels, with_task

    frame = generate_transactions(rows, seed=3)
    schema, _ = with_task(infer_schema(frame, "is_fraud"), frame["is_fraud"])
    x = canonical_frame(frame, schema)
    y = encode_labels(frame["is_fraud"], schema.classes or [])
    pipeline = make_pipeline(schema, name, task=schema.task).fit(x, y)
    out = folder / name
    save_bundle(
        pipeline,
        out,
        schema,
        name,
        family(name).flavor,
        0.5,
        extra=reference_extra(pipeline, x),
        probes=probe_rows(schema, frame),
        outlier=fit_outlier_scorer(pipeline.named_steps["preprocess"].transform(x)),
    )
    return out, schema, frame


def timings(port: int, bodies: dict[str, bytes], requests: int) -> dict[str, list[float]]:
    """Round-trip seconds per body, the bodies sent in turn ``requests`` times each."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    seconds: dict[str, list[float]] = {k: [] for k in bodies}
    for i in range(requests + 20):
        for key, body in bodies.items():
            start = time.perf_counter()
            connection.request("POST", "/v2/models/bench/infer", body, headers)
            answer = connection.getresponse()
            data = answer.read()
            elapsed = time.perf_counter() - start
            if answer.status != 200:
                raise RuntimeError(f"{key}: {answer.status} {data[:300]!r}")
            if i >= 20:  # the first rounds warm the caches (and build the converted trees)
                seconds[key].append(elapsed)
    connection.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    from shipyard.local.servers import start_predictor, v2_request

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(
            "| family | rows | plain p50 / p90 ms | + contributions p50 / p90 ms | ratio "
            "| + outlier_score p50 / p90 ms | ratio |"
        )
        print("|---|---|---|---|---|---|---|")
        for name in args.families.split(","):
            path, schema, frame = bundle(folder, name, args.rows)
            server = start_predictor(str(path), "bench", folder / f"{name}.log")
            try:
                bodies = {}
                for rows in (1, 256):
                    body = v2_request(frame.head(rows), schema)
                    bodies[f"{rows}"] = json.dumps(body).encode()
                    bodies[f"{rows}+c"] = json.dumps({**body, "outputs": EXPLAINED}).encode()
                    bodies[f"{rows}+o"] = json.dumps({**body, "outputs": UNUSUAL}).encode()
                port = int(server.base_url.rsplit(":", 1)[1])
                seconds = timings(port, bodies, args.requests)
            finally:
                server.stop()
            for rows in (1, 256):
                p50, p90 = _p50_p90(seconds[f"{rows}"])
                c50, c90 = _p50_p90(seconds[f"{rows}+c"])
                o50, o90 = _p50_p90(seconds[f"{rows}+o"])
                print(
                    f"| {name} | {rows} | {p50:.2f} / {p90:.2f} | {c50:.2f} / {c90:.2f} "
                    f"| {c50 / p50:.1f}x | {o50:.2f} / {o90:.2f} | {o50 / p50:.1f}x |"
                )


def _p50_p90(seconds: list[float]) -> tuple[float, float]:
    return statistics.median(seconds) * 1e3, statistics.quantiles(seconds, n=10)[-1] * 1e3


if __name__ == "__main__":
    main()
