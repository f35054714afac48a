"""The `scaledql` command: `scaledql bench update --preset smoke`, `scaledql params`, ..."""

from __future__ import annotations

import argparse
import sys

from scaledql import configs


def config_from_args(args: argparse.Namespace) -> configs.Config:
    """The preset named by --preset with every --set key=value applied."""
    return configs.override(configs.preset(args.preset), args.set or [])


def _add_config_args(parser: argparse.ArgumentParser, default_preset: str = "smoke") -> None:
    parser.add_argument(
        "--preset", default=default_preset, help=f"one of: {', '.join(configs.PRESETS)}"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change a setting, e.g. network.width=0.5 or games=Pong,Breakout (repeatable)",
    )


def cmd_bench_update(args: argparse.Namespace) -> None:
    from scaledql import bench

    config = config_from_args(args)
    print(
        f"preset {config.name}: {config.network.encoder} x{config.network.width:g}, "
        f"loss {config.loss.kind}, cql_alpha {config.loss.cql_alpha}, {len(config.games)} games"
    )
    print(bench.bench_update(config, steps=args.steps).report())


def cmd_params(args: argparse.Namespace) -> None:
    from scaledql import networks

    base = config_from_args(args)
    encoders = [base.network.encoder] if args.only_preset else configs.ENCODERS
    print(
        f"{len(base.games)} games, mlp {base.network.mlp_sizes}, readout {base.network.readout}, "
        f"width {base.network.width:g}, {base.loss.kind}"
    )
    print(f"{'encoder':<10} {'encoder+readout':>16} {'mlp':>12} {'heads':>12} {'total':>12}")
    for encoder in encoders:
        config = configs.override(base, [f"network.encoder={encoder}"])
        parts = networks.param_breakdown(config)
        print(
            f"{encoder:<10} {parts['encoder']:>16,} {parts['mlp']:>12,} {parts['heads']:>12,} "
            f"{sum(parts.values()):>12,}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaledql", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("bench", help="print speed figures")
    bench_kinds = bench.add_subparsers(dest="bench", required=True)
    update = bench_kinds.add_parser("update", help="jitted update: steps/s, samples/s, FLOPs")
    _add_config_args(update)
    update.add_argument(
        "--steps", type=int, default=50, help="timed gradient steps (0: compile, report FLOPs)"
    )
    update.set_defaults(func=cmd_bench_update)

    params = commands.add_parser("params", help="parameter counts of every encoder")
    _add_config_args(params, default_preset="paper")
    params.add_argument("--only-preset", action="store_true", help="only the preset's encoder")
    params.set_defaults(func=cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as error:  # bad preset, setting, game...: one clear line, no traceback
        print(f"scaledql: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
