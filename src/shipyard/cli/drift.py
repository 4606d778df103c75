"""``shipyard drift``: a table against a model's detector, or a running detector's latest."""

from __future__ import annotations

import argparse
from typing import Any

from shipyard.cli.common import champion_uri
from shipyard.errors import ConfigError


def cmd_drift(args: argparse.Namespace) -> int:
    """Score a table against a model's detector, or print a running detector's latest."""
    import json

    if args.url:
        url = f"{args.url.rstrip('/')}/v1/drift/{args.name}"
        from shipyard.http import get_json

        latest = get_json(url, what="the drift detector")
        print(json.dumps(latest, indent=2))
        result = latest.get("latest") or {}
        return 1 if result.get("is_drift") else 0
    if not args.data:
        raise ConfigError("give a table to score (DATA) or --url of a running detector")
    from shipyard.data.sources import read_table
    from shipyard.monitoring.detector import load_detector
    from shipyard.settings import get_settings

    settings = get_settings()
    detector = load_detector(args.source or champion_uri(settings.model_name), settings)
    frame = read_table(args.data, settings)
    result = detector.score(frame)
    width = max(len(name) for name in result.p_values)
    print(f"{'feature':<{width}}  {'p-value':>9}  {'statistic':>10}  drift")
    for name, p_value in sorted(result.p_values.items(), key=lambda item: item[1]):
        print(
            f"{name:<{width}}  {p_value:>9.4g}  {result.statistics[name]:>10.4g}  "
            f"{'YES' if result.feature_drift[name] else '-'}"
        )
    verdict = f"drift in {', '.join(result.drifted)}" if result.is_drift else "no drift"
    print(f"{result.rows} rows vs the reference (p < {result.threshold:g}, corrected): {verdict}")
    return 1 if result.is_drift else 0


def register(sub: Any) -> None:
    drift = sub.add_parser(
        "drift",
        help="score a table against a model's drift detector, or print a running "
        "detector's latest window; exit 1 on drift",
    )
    drift.add_argument("data", nargs="?", help="CSV/Parquet path, file:// or s3:// URI")
    drift.add_argument(
        "--source",
        help="detector source: models:/name@alias (default the "
        "champion) or a saved detector folder",
    )
    drift.add_argument("--url", help="a running detector, e.g. http://127.0.0.1:8082")
    drift.add_argument("--name", default="drift", help="the detector's model name (--url)")
    drift.set_defaults(func=cmd_drift)
