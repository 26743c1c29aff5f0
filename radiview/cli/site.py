"""``radiview site validate|adapt|monitor``: a hospital measures, adapts and watches the reader.

    radiview site validate FILMS --labels CSV [--model DIR] --out DIR
    radiview site adapt FILMS --labels CSV --out SITE_DIR [--name NAME] [--covid-specificity 0.95]
    radiview site monitor REPORT.csv --model SITE_DIR [--json OUT.json]

Bad input (missing files, unknown labels, duplicate rows, too few films, a bundle that does not
load) exits 2 with one line saying what is wrong; unreadable films are listed and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from radiview import RESEARCH_NOTICE
from radiview.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from radiview.errors import RadiviewError

DEVICES = ("auto", "cpu", "cuda", "mps")


def _common(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model", metavar="DIR", help=model_help)
    parser.add_argument("--device", choices=DEVICES, default="auto", help="where the model runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (INFO)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "site",
        help="validate, adapt and monitor the reader on a site's own films",
        description=f"Validate, adapt and monitor the reader on a site's labelled films. {RESEARCH_NOTICE}",
    )
    actions = parser.add_subparsers(dest="site_command", required=True, metavar="{validate,adapt,monitor}")
    validate = actions.add_parser("validate", help="measure a model on the site's labelled films")
    validate.add_argument("films", metavar="FILMS", help="folder of the site's films")
    validate.add_argument("--labels", required=True, metavar="CSV", help="file,label[,patient_id]")
    validate.add_argument("--out", required=True, metavar="DIR", help="folder for report.json and report.pdf")
    validate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    _common(validate, "model bundle or site bundle folder (default: the bundled model)")
    adapt = actions.add_parser("adapt", help="build a site model from the site's labelled films")
    adapt.add_argument("films", metavar="FILMS", help="folder of the site's films")
    adapt.add_argument("--labels", required=True, metavar="CSV", help="file,label[,patient_id]")
    adapt.add_argument("--out", required=True, metavar="SITE_DIR", help="new site bundle folder")
    adapt.add_argument("--name", default="", help="the site's name (default: the output folder's name)")
    adapt.add_argument(
        "--covid-specificity", type=float, default=0.95, help="COVID-19 specificity target on non-COVID films"
    )
    adapt.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    _common(adapt, "base model bundle (default: the bundled model)")
    monitor = actions.add_parser("monitor", help="compare a screening report with the site's check part")
    monitor.add_argument("report", metavar="REPORT.csv", help="a 'radiview screen' CSV report")
    monitor.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON")
    _common(monitor, "the site bundle the report was screened with")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        if args.site_command == "validate":
            return _validate(args)
        if args.site_command == "adapt":
            return _adapt(args)
        return _monitor(args)
    except RadiviewError as exc:
        print(f"radiview site {args.site_command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("radiview: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _validate(args: argparse.Namespace) -> int:
    from radiview.inference.loader import load_classifier
    from radiview.site.labels import read_site_labels
    from radiview.site.validate import validate_site

    read_site_labels(args.films, args.labels)  # bad labels fail before the model loads
    classifier = load_classifier(args.model, args.device)
    report = validate_site(classifier, args.films, args.labels, args.out, n_boot=args.bootstrap)
    print(f"{report['model']}: {len(report['unreadable'])} unreadable film(s); report in {args.out}")
    for line in report["verdict"]:
        print(f"  {line}")
    print(RESEARCH_NOTICE)
    return EXIT_OK


def _adapt(args: argparse.Namespace) -> int:
    from radiview.inference.loader import load_classifier
    from radiview.site.adapt import adapt_site
    from radiview.site.labels import read_site_labels

    read_site_labels(args.films, args.labels)
    if not 0.5 <= args.covid_specificity < 1.0:
        print("radiview site adapt: error: --covid-specificity must be in [0.5, 1)", file=sys.stderr)
        return EXIT_USAGE
    classifier = load_classifier(args.model, args.device)
    card = adapt_site(
        classifier,
        args.films,
        args.labels,
        args.out,
        name=args.name,
        covid_specificity=args.covid_specificity,
        n_boot=args.bootstrap,
    )
    print(f"site bundle {args.out}: {card['site']['summary']}")
    for line in card["site"]["not_adapted"]:
        print(f"  not adapted: {line}")
    print(RESEARCH_NOTICE)
    return EXIT_OK


def _monitor(args: argparse.Namespace) -> int:
    from radiview.site.monitor import monitor_report, monitor_text

    if not args.model:
        print("radiview site monitor: error: --model SITE_DIR is required", file=sys.stderr)
        return EXIT_USAGE
    result = monitor_report(args.report, args.model)
    if args.json:
        from radiview.atomic import atomic_write

        with atomic_write(args.json, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(result, indent=2) + "\n")
    print(monitor_text(result))
    return EXIT_OK
