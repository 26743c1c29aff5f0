"""The shape of the training package: one command line (with sub-commands) and no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from training.args import get_args_parser, parse_cli

TRAINING = Path(__file__).resolve().parents[2] / "training"

#: args.json lists the flags in this order (as before the package was split); runs are compared by it.
ARGS_ORDER = [
    "data", "sources", "output_dir", "mode", "backbone_weights", "input_size", "hidden", "dropout", "epochs",
    "batch_size", "lr", "backbone_lr_factor", "weight_decay", "lr_schedule", "label_smoothing", "bn_train",
    "augment", "burned_text", "pipeline", "loader_workers", "amp", "holdout_source", "loso_metrics",
    "trained_by", "init_from", "feature_passes", "trainable_from", "oversample", "select_metric", "split",
    "dedup_distance", "dedup_correlation", "gate_acceptance", "gate_min_std", "gate_max_colorfulness",
    "gate_layout", "gate_spatial_channels", "refit_gate_from", "ood", "expand", "export", "model_version",
    "n_boot", "seed", "workers", "cache_dir", "device", "threads", "resume", "stop_after_epochs", "progress",
]  # fmt: skip


def test_every_flag_keeps_its_place_and_default() -> None:
    args = vars(get_args_parser().parse_args([]))
    assert list(args) == ARGS_ORDER
    assert args["epochs"] == 40 and args["gate_spatial_channels"] == 128 and args["progress"] is None
    assert args["refit_gate_from"] == "" and args["expand"] == 0 and args["loso_metrics"] == []


def test_sub_commands_parse_like_their_flags() -> None:
    common = ["--data", "films.csv", "--output-dir", "runs/x", "--seed", "3"]
    assert vars(parse_cli(["refit", "bundle", *common])) == vars(
        parse_cli(["--refit-gate-from", "bundle", *common])
    )
    expand = parse_cli(["expand", "12", *common])
    assert expand.expand == 12 and expand.seed == 3
    assert vars(expand) == vars(parse_cli(["--expand", "12", *common]))
    assert vars(parse_cli(["train", *common])) == vars(parse_cli(common))


@pytest.mark.parametrize(
    "argv", [["refit"], ["refit", "--data", "x"], ["expand"], ["expand", "not-a-number"]]
)
def test_sub_commands_refuse_a_missing_operand(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_cli(argv)
    assert exc.value.code == 2
    assert "python -m training" in capsys.readouterr().err


def _imports(path: Path) -> set[str]:
    """Modules of ``training`` that ``path`` imports at any level (function-local imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("training"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("training"))
    return found


def _module_graph() -> dict[str, set[str]]:
    paths = {
        ".".join(p.relative_to(TRAINING.parent).with_suffix("").parts): p for p in TRAINING.rglob("*.py")
    }
    modules = {name.removesuffix(".__init__"): p for name, p in paths.items()}
    return {name: (_imports(p) & set(modules)) - {name} for name, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_circle_check_sees_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_training_has_no_import_circle() -> None:
    graph = _module_graph()
    assert {"training.train", "training.export", "training.refit", "training.gate"} <= set(graph)
    assert "training.run" in graph["training.export"]  # the graph sees real edges
    assert _cycles(graph) == []
