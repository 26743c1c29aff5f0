"""The command line: ``get_args_parser()`` (torchvision references style) and the sub-commands.

``python -m training [train] FLAGS`` trains; ``python -m training refit BUNDLE FLAGS`` is
``--refit-gate-from BUNDLE`` and ``python -m training expand N FLAGS`` is ``--expand N``. The sub-commands
only name the mode: every run, whatever its mode, parses the same flags into the same ``args.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from training.augment import AUGMENTATIONS
from training.calibrate import SPATIAL_CHANNELS
from training.model import DEFAULT_BACKBONE_WEIGHTS

#: sub-command → the flag it stands for (None: plain training)
SUBCOMMANDS: dict[str, str | None] = {"train": None, "refit": "--refit-gate-from", "expand": "--expand"}


def get_args_parser(add_help: bool = True, prog: str | None = None) -> argparse.ArgumentParser:
    """Every flag of a run. The helpers add them in the order args.json has always listed them."""
    p = argparse.ArgumentParser(
        prog=prog, description="Train RadiView's chest X-ray classifier", add_help=add_help
    )
    _data_args(p)
    _model_args(p)
    _optimizer_args(p)
    _augment_args(p)
    _holdout_and_init_args(p)
    _frozen_args(p)
    _selection_and_split_args(p)
    _gate_args(p)
    _mode_and_output_args(p)
    _runtime_args(p)
    return p


def parse_cli(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line, with or without a sub-command (``train``, ``refit BUNDLE``, ``expand N``)."""
    argv = list(argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        return get_args_parser().parse_args(argv)
    name, rest = argv[0], argv[1:]
    parser = get_args_parser(prog=f"python -m training {name}")
    flag = SUBCOMMANDS[name]
    if flag is not None:
        if not rest or rest[0].startswith("-"):
            if any(a in ("-h", "--help") for a in rest):
                parser.parse_args(["--help"])
            what = "BUNDLE" if name == "refit" else "N (films per class)"
            parser.error(f"{name} needs {what} first")
        rest = [flag, rest[0], *rest[1:]]
    return parser.parse_args(rest)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="PATH",
        help="manifest CSV, class-folder tree or Kermany chest_xray folder (repeatable)",
    )
    p.add_argument("--sources", default="", help="e.g. 'kermany,ieee8023' (only these) or '-figure1' (not)")
    p.add_argument("--output-dir", default="runs/latest", help="run directory")
    p.add_argument("--mode", choices=("frozen", "finetune"), default="frozen")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backbone-weights",
        default=DEFAULT_BACKBONE_WEIGHTS,
        help="ImageNet .pth, 'torchvision' (IMAGENET1K_V1, cached download) or 'none'",
    )
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--hidden", type=int, default=2500)
    p.add_argument("--dropout", type=float, default=0.5)


def _optimizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone-lr-factor", type=float, default=0.1, help="finetune: backbone lr = lr × this")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="cosine: decay every group's lr to 0 over --epochs (per epoch)",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--bn-train", action="store_true", help="finetune: let backbone BatchNorm update")


def _augment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--augment", choices=AUGMENTATIONS, default="source")
    p.add_argument(
        "--burned-text",
        type=float,
        default=0.0,
        metavar="P",
        help="share of training films that get random burned-in letters/markers/arrows/rulers",
    )
    p.add_argument(
        "--pipeline",
        choices=("auto", "device", "films"),
        default="auto",
        help="finetune: batched augmentation on the training device from cached uint8 films "
        "(device) or film-by-film augmentation in a DataLoader (films); auto = device on CUDA, films "
        "on the CPU (measured on 2 cores: films 68-72 films/s, device 59-64, raw train step 80)",
    )
    p.add_argument(
        "--loader-workers", type=int, default=0, help="finetune --pipeline films: DataLoader workers"
    )
    p.add_argument(
        "--amp",
        choices=("auto", "off"),
        default="auto",
        help="auto: bf16 autocast and channels_last on CUDA (never on the CPU)",
    )


def _holdout_and_init_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--holdout-source",
        default="",
        metavar="NAME[,NAME]",
        help="leave these sources (and every patient with a film in them) out of train/val/test "
        "entirely; report their metrics and gate acceptance after training",
    )
    p.add_argument(
        "--loso-metrics",
        action="append",
        default=[],
        metavar="METRICS_JSON",
        help="metrics.json of --holdout-source runs of the same recipe, put in the card (repeatable)",
    )
    p.add_argument(
        "--trained-by",
        default="",
        metavar="TEXT",
        help="with --init-from: how that state was trained (command, machine), kept in the card",
    )
    p.add_argument(
        "--init-from",
        default="",
        metavar="STATE",
        help="start from this network state_dict (.pt, e.g. a run's best.pt); with --epochs 0 the "
        "run only calibrates, fits the gate, evaluates and exports it",
    )


def _frozen_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature-passes", type=int, default=4, help="frozen: augmented passes of train")
    p.add_argument(
        "--trainable-from",
        type=int,
        default=13,
        help="frozen: also train backbone blocks features[K:] on cached features[:K] activations "
        "(13 = head only, the paper's method; 9 = the last 7×7 blocks)",
    )


def _selection_and_split_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-oversample",
        dest="oversample",
        action="store_false",
        help="do not expand every class to the largest class's count each epoch",
    )
    p.add_argument(
        "--select-metric",
        choices=("balanced_accuracy", "accuracy", "macro_auc", "neg_loss"),
        default="balanced_accuracy",
        help="val metric that picks the best epoch",
    )
    p.add_argument("--split", default="0.7,0.15,0.15", help="train,val,test fractions (by patient)")
    p.add_argument(
        "--dedup-distance",
        type=int,
        default=4,
        help="dHash bits within which films are duplicate candidates (-1: no de-duplication)",
    )
    p.add_argument(
        "--dedup-correlation",
        type=float,
        default=0.97,
        help="32×32 thumbnail correlation that confirms a candidate as a near-duplicate",
    )


def _gate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gate-acceptance", type=float, default=0.99, help="share of val films the gate accepts")
    p.add_argument("--gate-min-std", type=float, default=0.02)
    p.add_argument("--gate-max-colorfulness", type=float, default=0.08)
    p.add_argument(
        "--gate-layout",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add the layout check (features.12 map pooled to 2×2 cells, PCA, Mahalanobis)",
    )
    p.add_argument(
        "--gate-spatial-channels",
        type=int,
        default=SPATIAL_CHANNELS,
        help="channels per cell kept by the layout check's PCA projection",
    )


def _mode_and_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refit-gate-from",
        default="",
        metavar="BUNDLE",
        help="do not train: refit only the input gate of this bundle's network on the same splits "
        "(--data etc. must give the bundle's splits; checked), write it with --export "
        "(also: python -m training refit BUNDLE …)",
    )
    p.add_argument(
        "--ood", default="", help="manifest CSV (file, kind) of non-CXR images to evaluate the gate on"
    )
    p.add_argument(
        "--expand",
        type=int,
        default=0,
        metavar="N",
        help="write an offline augmented train copy with N films per class, then stop "
        "(also: python -m training expand N …)",
    )
    p.add_argument("--export", default="", metavar="DIR", help="write the app's model bundle here")
    p.add_argument("--model-version", default="1.0.0")
    p.add_argument("--n-boot", type=int, default=1000)


def _runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes that decode films")
    p.add_argument("--cache-dir", default="runs/.cache", help="decoded-film/feature cache ('' to disable)")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default; 1 is fastest on a busy shared machine)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
    p.add_argument(
        "--stop-after-epochs",
        type=int,
        default=0,
        help="end the run after this many epochs in this invocation (simulates an interruption)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: when stderr is a terminal)",
    )
