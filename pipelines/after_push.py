"""The commands for what comes after the push: a version's model card, and batch predictions with
a version (pipelines/predictions.py; not predict.py, which would shadow the `pipelines.predict`
function). `tfx-yaml` (pipelines/cli.py) registers them from here.

    tfx-yaml card [--config X.yaml] [--root DIR] [--version N] [--open] [--json]
    tfx-yaml predict --config X.yaml --data PATH --output FILE [--root DIR] [--version N]
                     [--keep COLS] [--skip-bad-rows]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipelines.core.paths import RunPaths
from pipelines.core.results import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

CARD_JSON = "assets.extra/model_card.json"
CARD_HTML = "assets.extra/model_card.html"


def add_parsers(commands, default_config: str) -> None:
    card = commands.add_parser("card", help="the model card of a pushed version (default: the one serving)")
    predict = commands.add_parser("predict", help="score a file or folder with a pushed version (Beam)")
    for sub in (card, predict):
        sub.add_argument("--config", default=default_config)
        sub.add_argument("--root")
        sub.add_argument("--version", type=int, help="a version number (default: the one serving now)")
    card.add_argument("--open", action="store_true", help="open the HTML card in the web browser")
    card.add_argument("--json", action="store_true", help="print the card's JSON")
    predict.add_argument("--data", required=True, help="a CSV, Parquet or TFRecord file, or a folder of them")
    predict.add_argument("--output", required=True, help="the output file: .csv or .parquet")
    predict.add_argument("--keep", help="input columns copied to the output, comma-separated "
                                        "(default: none but the row number)")
    predict.add_argument("--skip-bad-rows", action="store_true",
                         help="skip (and count) rows the model cannot take instead of stopping")
    predict.add_argument("--drift-report", help="where to write the drift page (default: next to --output)")


def command(args: argparse.Namespace, spec) -> int:
    if args.command == "card":
        return card_command(spec, args)
    from pipelines import predictions

    return predictions.command(spec, args)


def version_dir(spec, root: str | None, version: int | None) -> str:
    """The folder of `version` (default: the newest complete one) at the spec's destination;
    ValueError naming what exists when there is none."""
    from components.common import serving_dir

    destination = RunPaths.of(spec, root).destination
    found = serving_dir.versions(destination)
    if not found:
        raise ValueError(f"no version is pushed at {destination}; run the pipeline first")
    if version is None:
        version = found[-1]
    if version not in found:
        raise ValueError(f"version {version} is not at {destination}; the versions there: "
                         f"{', '.join(map(str, found))}")
    return serving_dir.version_path(destination, version)


def card(spec, root: str | None = None, version: int | None = None) -> tuple[str, dict]:
    """(path of the HTML card, the card's JSON) of a pushed version (default: the one serving)."""
    from components.common import io

    folder = version_dir(spec, root, version)
    path = io.join(folder, CARD_JSON)
    if not io.exists(path):
        raise FileNotFoundError(f"{folder} has no model card ({CARD_JSON}): it was pushed before model cards "
                                "were written; the next pushed version has one")
    return io.join(folder, CARD_HTML), io.read_json(path)


def card_command(spec, args: argparse.Namespace) -> int:
    try:
        html, found = card(spec, args.root, args.version)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        details = found["model_details"]
        print(f"model card of {details['name']} version {details['version']['name']} "
              f"({details['version']['date']}): {details['overview']}")
        for metric in found["quantitative_analysis"]["performance_metrics"]:
            if "slice" not in metric:
                print(f"  {metric['type']}: {metric['value']}")
        print(f"card: {html}")
    if args.open:
        import webbrowser

        webbrowser.open("file://" + os.path.abspath(html))
    return EXIT_OK
