"""The `scaledql` command: `scaledql bench update --preset smoke`, `scaledql params`, ..."""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import shlex
import sys

import jax
import numpy as np

from scaledql import (
    agents,
    benchmarks,
    book,
    checkpoints,
    configs,
    distributed,
    envs,
    evaluate,
    networks,
    paper,
    pipeline,
    records,
    scores,
    studies,
)
from scaledql.data import cache_root, dataset_stats, read_log


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
        help="change a setting, e.g. network.width=0.5 or games=Pong,Breakout (repeatable); "
        "`scaledql settings` lists every key with its default and meaning",
    )


def _add_process_args(parser: argparse.ArgumentParser) -> None:
    """Flags that join several processes into one run (`scaledql.distributed`)."""
    group = parser.add_argument_group(
        "several processes", "one run over several hosts or processes (book/at_scale.md)"
    )
    group.add_argument(
        "--distributed", action="store_true",
        help="join the other processes of a TPU pod slice, SLURM job or Open MPI launch, "
        "which JAX detects",
    )  # fmt: skip
    group.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    group.add_argument("--num-processes", type=int, metavar="N", help="with --coordinator")
    group.add_argument("--process-id", type=int, metavar="I", help="0 to N-1, with --coordinator")


def _join_processes(args: argparse.Namespace) -> None:
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if any(value is not None for value in explicit):
        if any(value is None for value in explicit):
            raise ValueError(
                "--coordinator, --num-processes and --process-id go together; give all three "
                "(or --distributed where JAX detects the cluster)"
            )
        if not 0 <= args.process_id < args.num_processes:
            raise ValueError(
                f"--process-id {args.process_id} is not one of 0 to {args.num_processes - 1}"
            )
        distributed.initialize(*explicit)
    elif args.distributed:
        distributed.initialize()


def cmd_bench_update(args: argparse.Namespace) -> None:
    _join_processes(args)
    config = config_from_args(args)
    report = benchmarks.bench_update(config, steps=args.steps, seeds=args.seeds).report()
    if distributed.is_leader():  # every process times the same steps
        print(
            f"preset {config.name}: {config.network.encoder} x{config.network.width:g}, loss "
            f"{config.loss.kind}, cql_alpha {config.loss.cql_alpha}, {len(config.games)} games"
        )
        print(report)


def cmd_bench_train(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    runs = pipeline.open_training_data(config)
    results = benchmarks.bench_train(config, runs, args.seconds, args.host_steps_per_call)
    print(
        f"preset {config.name}: {config.network.encoder} x{config.network.width:g}, readout "
        f"{config.network.readout}, loss {config.loss.kind}, batch {config.train.batch_size}, "
        f"{len(config.games)} games, {jax.devices()[0].device_kind} "
        f"({len(os.sched_getaffinity(0))} cores visible)"
    )
    print(f"{'loop':<8}{'steps a call':>14}{'setup s':>10}{'compile s':>11}{'samples/s':>11}")
    for loop, r in results.items():
        print(
            f"{loop:<8}{r['steps_per_call']:>14}{r['setup_s']:>10.1f}{r['compile_s']:>11.1f}"
            f"{r['samples_per_s']:>11,.0f}"
        )
    ratio = results["memory"]["samples_per_s"] / results["host"]["samples_per_s"]
    print(f"memory / host: {ratio:.2f}x")


def cmd_bench_study(args: argparse.Namespace) -> None:
    planned = _chapter_runs(studies.book_runs(args.preset), args.chapter)
    timed = [
        r for r in records.list_records()
        if r["config"]["name"] == args.preset and r.get("evaluations") and r["scores"]
    ]  # fmt: skip
    if not timed:
        raise ValueError(
            f"no record at preset {args.preset} with evaluations along its budget to time "
            f"evaluation by; train one first: scaledql train --preset {args.preset}"
        )
    per_game = [
        r["provenance"]["wall_time_s"]["evaluate"] / len(r["scores"]) for r in timed
    ]  # the final evaluation of each: its seconds a game
    evaluate_s = float(np.mean(per_game))
    rows = benchmarks.estimate_study(planned, evaluate_s, args.seconds)
    by_chapter = collections.defaultdict(lambda: [0, 0.0])
    for row in rows:
        by_chapter[row["chapter"]][0] += 1
        by_chapter[row["chapter"]][1] += row["hours"]
    print(
        f"preset {args.preset}: {len(rows)} runs; evaluation {evaluate_s:.0f} s a game and "
        f"point (the mean of {len(timed)} records' final evaluations)"
    )
    for chapter, (count, hours) in by_chapter.items():
        print(f"  {chapter:<24} {count:>4} runs {hours:>8.1f} core-hours")
    total = sum(row["hours"] for row in rows)
    print(f"in all: {total:.1f} core-hours, {total / 2:.1f} hours on 2 cores")


def cmd_settings(args: argparse.Namespace) -> None:
    """Every --set key: its value at the preset, the dataclass default, and what it sets."""
    config = config_from_args(args)
    docs = configs.setting_docs()

    def text(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)

    rows = [
        (key, text(configs.setting_value(config, key)), text(configs.default_value(key)))
        for key in configs.setting_names(config)
    ]
    width = max(len(key) for key, _, _ in rows)
    print(f"{'setting':<{width}}  {config.name + ' preset':<14}  {'default':<14}  meaning")
    for key, value, default in rows:
        print(f"{key:<{width}}  {value:<14}  {default:<14}  {docs[key]}")


def print_transformer_params(config: configs.Config) -> None:
    """The Decision Transformer's parameter count beside Lee et al.'s two models'."""
    dt = config.dt
    parts = networks.param_breakdown(config)
    total = sum(parts.values())
    print(
        f"Decision Transformer over {len(config.games)} games: d_model {dt.d_model}, "
        f"{dt.num_layers} layers, {dt.num_heads} heads, {dt.context} timesteps"
    )
    print(f"  embeddings + blocks {parts['encoder']:,}, heads {parts['heads']:,}, total {total:,}")
    for row in (r for r in paper.table("model_sizes") if r["model"].startswith("DT")):
        print(f"  Lee et al.'s {row['model']} ({row['source']}): {row['value']:,.0f}")


def cmd_params(args: argparse.Namespace) -> None:
    base = config_from_args(args)
    if base.loss.kind == "dt":
        print_transformer_params(base)
        return
    encoders = [base.network.encoder] if args.only_preset else configs.ENCODERS
    widths = [float(w) for w in args.widths.split(",")] if args.widths else [base.network.width]
    print(
        f"{len(base.games)} games, mlp {base.network.mlp_sizes}, readout {base.network.readout}, "
        f"{base.loss.kind}"
    )
    print(
        f"{'encoder':<11} {'width':>6} {'encoder+readout':>16} {'mlp':>12} {'heads':>12} "
        f"{'total':>12}"
    )
    for encoder in encoders:
        for width in widths:
            try:
                config = configs.override(
                    base, [f"network.encoder={encoder}", f"network.width={width}"]
                )
            except ValueError as error:  # an encoder these games cannot take, e.g. nature
                print(f"{encoder:<11} {'':>6} not for these games: {error}")
                break
            parts = networks.param_breakdown(config)
            print(
                f"{encoder:<11} {width:>6g} {parts['encoder']:>16,} {parts['mlp']:>12,} "
                f"{parts['heads']:>12,} {sum(parts.values()):>12,}"
            )


def cmd_collect(args: argparse.Namespace) -> None:
    summary = agents.collect_run(
        args.game,
        args.policy,
        args.steps,
        args.out,
        capacity=args.capacity,
        seed=args.seed,
        mode=args.mode,
        difficulty=args.difficulty,
        epsilon=args.epsilon,
        overrides=tuple(args.set),
        checkpoints=args.checkpoints,
    )
    if args.checkpoints is not None and not read_log(args.out)["complete"]:
        print(f"stopped once checkpoints 0-{args.checkpoints - 1} were written; the same command "
              "without --checkpoints resumes the run to its end")  # fmt: skip
    if (args.out / "policy").exists():
        print(f"the DQN's final network: {args.out / 'policy'} (use --policy greedy-eps:DIR)")
    if summary is not None and args.record:
        command = "scaledql " + shlex.join(args.argv)
        records.write_collection(summary, args.record, args.game, args.seed, command)
        print(f"summary: {records.collection_path(args.record, args.game, args.seed)}")
    if summary is not None and summary["complete"]:
        final, random = (np.mean(summary[k]) for k in ("final_returns", "random_returns"))
        print(f"final policy: mean return {final:.2f} over {len(summary['final_returns'])} "
              f"episodes (random play: {random:.2f})")  # fmt: skip
    _print_stats([dataset_stats(args.out)])


def _print_stats(rows: list[dict]) -> None:
    def fmt(value):
        return "-" if value is None else f"{value:.1f}"

    def top(shares):  # the action played most in the last checkpoint, and its share of it
        return f"{int(np.argmax(shares))} ({100 * max(shares):.1f} %)"

    print(
        f"{'game':<14} {'policy':<16} {'episodes':>8} {'mean clipped':>12} "
        f"{'max clipped':>11} {'mean return':>11} {'max return':>10} {'top action, end':>15}  run"
    )
    for r in rows:
        print(
            f"{r['game'] or '?':<14} {r['policy']:<16} {r['episodes']:>8} "
            f"{fmt(r['mean_clipped_return']):>12} {fmt(r['max_clipped_return']):>11} "
            f"{fmt(r['mean_return']):>11} {fmt(r['max_return']):>10} "
            f"{top(r['final_action_shares']):>15}  {r['run_dir']}"
        )


def cmd_data_stats(args: argparse.Namespace) -> None:
    _print_stats([dataset_stats(run_dir) for run_dir in args.run_dirs])


def cmd_bench_sampler(args: argparse.Namespace) -> None:
    games = [envs.check_game(g.strip()) for g in args.games.split(",")]
    result = benchmarks.bench_sampler(
        games, args.steps_per_game, args.capacity, args.batch_size, args.batches, args.prefetch
    )
    print(
        f"{result['games']} games, {result['rows']:,} rows on disk, batch {args.batch_size}"
        f"{' (prefetch thread)' if args.prefetch else ''}"
    )
    print(f"batches/s         {result['batches_per_s']:.1f}")
    print(f"transitions/s     {result['transitions_per_s']:,.0f}")
    print(f"peak RSS          {result['peak_rss_mb']:,.0f} MB")


def cmd_bench_collect(args: argparse.Namespace) -> None:
    result = benchmarks.bench_collect(envs.check_game(args.game), args.frames)
    print(f"{result['game']}: {result['frames']:,} frames in {result['wall_s']:.1f} s "
          f"(compilation included), {result['episodes']:,} episodes")  # fmt: skip
    print(f"frames/s          {result['frames_per_s']:,.0f}")
    print(f"gradient steps/s  {result['gradient_steps_per_s']:,.0f} (batch {result['batch_size']})")


def cmd_bench_read(args: argparse.Namespace) -> None:
    result = benchmarks.bench_read(args.rows)
    print(
        f"checkpoint        {result['rows']:,} rows ({result['frames_gb']:.2f} GB of frames, "
        f"{result['gz_mb']:.0f} MB gzipped)"
    )
    print(f"cache build       {result['cache_build_s']:.1f} s")
    print("open, index and 20 batches of 512 in a fresh process:")
    print(f"peak memory       {result['peak_anon_mb']:,.0f} MB (anonymous: heap and arrays)")
    print(f"peak RSS          {result['peak_rss_mb']:,.0f} MB (also counts mapped cache pages)")


def cmd_train(args: argparse.Namespace) -> None:
    _join_processes(args)
    config = config_from_args(args)
    if args.games:
        config = configs.override(config, [f"games={args.games}"])
    record = pipeline.run_or_load(config, fresh=args.fresh, workdir=args.workdir)
    if distributed.is_leader():
        _print_record(record)


def _print_record(record: dict) -> None:
    config = configs.from_dict(record["config"])
    print(f"{record['scale']}; record {records.record_path(config)}")
    print(f"{'game':<14} {'return':>10} {'behaviour':>10} {'human-norm':>10}")
    for game, s in record["scores"].items():
        behaviour = s["behaviour_mean_return"]
        norm = s["human_normalized"]
        print(
            f"{game:<14} {s['mean_return']:>10.1f} "
            f"{'-' if behaviour is None else f'{behaviour:.1f}':>10} "
            f"{'-' if norm is None else f'{norm:.3f}':>10}"
        )


def cmd_finetune(args: argparse.Namespace) -> None:
    """The fine-tuning runs of chapter 7 (offline) or 8 (online) that match --variant and
    --game, after the pre-trained run they start from."""

    build = {
        "offline": studies.offline_finetuning.offline_finetuning,
        "online": studies.online_finetuning.online_finetuning,
    }
    source, runs = build[args.mode](args.preset, args.seed, configs.parse_settings(args.set or []))
    chosen = [
        (variant, game, config)
        for variant, by_game in runs.items()
        for game, config in by_game.items()
        if (not args.variant or args.variant.lower() in variant.lower())
        and (not args.game or args.game.lower() == game.split()[0].lower())
    ]
    if not chosen:
        games = sorted({game for by_game in runs.values() for game in by_game})
        raise ValueError(
            f"no {args.mode} fine-tuning run matches --variant {args.variant!r} --game "
            f"{args.game!r} at preset {args.preset}; variants: {', '.join(runs)}; "
            f"games: {', '.join(games)}"
        )
    if any(config.finetune.pretrained for _, _, config in chosen):
        print(f"pre-trained run {configs.config_hash(source)}: {configs.command(source)}")
        pipeline.run_or_load(source)
    for variant, game, config in chosen:
        print(f"\n{variant}, {game}: {configs.command(config)}", flush=True)
        _print_record(pipeline.run_or_load(config, fresh=args.fresh))


def cmd_evaluate(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    params = checkpoints.load_params(config, args.workdir)
    for game in [args.game] if args.game else config.games:
        returns = evaluate.evaluate_game(
            config,
            params,
            game,
            args.episodes,
            head=args.head,
            mode=args.mode,
            difficulty=args.difficulty,
            seed=config.seed,
        )
        print(f"{game:<14} mean {sum(returns) / len(returns):>10.1f}  returns {returns}")


def cmd_records(args: argparse.Namespace) -> None:
    for r in records.list_records():
        normed = [
            s["human_normalized"] for s in r["scores"].values() if s["human_normalized"] is not None
        ]
        iqm = scores.iqm(normed) if normed else float("nan")
        print(
            f"{r['provenance']['date'][:10]} {r['config']['name']:<6} {r['config_hash']} "
            f"{len(r['scores'])} games  IQM human-norm {iqm:6.3f}  {r['provenance']['command']}"
        )


def _shard(text: str) -> tuple[int, int]:
    """K/N of `--shard`: this process trains the planned runs whose index is K modulo N."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise argparse.ArgumentTypeError(
            f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/2"
        )
    return int(k), int(n)


def _shard_root(config: configs.Config) -> str:
    """The hash of the run that `scaledql runs --shard` assigns `config` with: its own, or that
    of the pre-trained run it starts from."""
    return config.finetune.pretrained or configs.config_hash(config)


def _shards(planned: list[configs.Config], n: int) -> dict[str, int]:
    """{root hash: shard} for `n` shards: a fine-tuning run goes with the run it starts from
    (which its shard trains first), and each group, in plan order, to the shard holding the
    fewest runs so far, so that runs alternate and groups of unequal size still balance."""
    sizes = collections.Counter(_shard_root(c) for c in planned)
    load, shard_of = [0] * n, {}
    for root in sizes:  # in plan order
        shard_of[root] = load.index(min(load))
        load[shard_of[root]] += sizes[root]
    return shard_of


def _chapter_runs(planned: list, prefixes: list[str] | None) -> list:
    """The planned (chapter, label, config) of the chapters that begin with one of `prefixes`
    (all with None); a ValueError naming the chapters for a prefix that matches none."""
    if not prefixes:
        return planned
    chapters = list(dict.fromkeys(chapter for chapter, *_ in planned))
    unknown = [p for p in prefixes if not any(c.startswith(p) for c in chapters)]
    if unknown:
        raise ValueError(
            f"--chapter {' '.join(unknown)}: no such chapter has runs; chapters: "
            + ", ".join(chapters)
        )
    return [run for run in planned if run[0].startswith(tuple(prefixes))]


def cmd_runs(args: argparse.Namespace) -> None:
    planned = _chapter_runs(studies.book_runs(args.preset, args.seed), args.chapter)
    k, n = args.shard
    unrecorded = [records.load_record(c) is None for *_, c in planned]
    # balanced on the runs still to train, so that a study resumed part way splits its rest
    shard_of = _shards([c for (*_, c), a in zip(planned, unrecorded, strict=True) if a], n)
    missing = []
    for (chapter, label, config), absent in zip(planned, unrecorded, strict=True):
        if absent and shard_of[_shard_root(config)] == k:
            missing.append(config)
        state = "missing " if absent else "recorded"
        run = f"{chapter:<14} {configs.config_hash(config)}  {label:<32}"
        print(f"{state} {run} {configs.command(config)}")
    recorded = len(planned) - sum(unrecorded)
    print(f"{recorded} of {len(planned)} runs recorded at preset {args.preset}")
    for i, config in enumerate(missing if args.train else [], 1):
        print(f"training {i}/{len(missing)}: {configs.command(config)}", flush=True)
        pipeline.run_or_load(config)


def cmd_book(args: argparse.Namespace) -> None:
    try:
        book.run(args.preset, args.seed, args.fresh, only=args.only, build=not args.no_build)
    except book.ChapterFailed as error:
        print(f"scaledql book: {error}", file=sys.stderr)
        sys.exit(1)


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
    update.add_argument(
        "--seeds", type=int, default=1, help="runs updated at once in one vmapped program"
    )
    _add_process_args(update)
    update.set_defaults(func=cmd_bench_update)

    train = bench_kinds.add_parser(
        "train", help="the offline loop with its sampling: host and in-memory, side by side"
    )
    _add_config_args(train)
    train.add_argument("--seconds", type=float, default=20.0, help="timed seconds a loop")
    train.add_argument(
        "--host-steps-per-call", type=int, default=10,
        help="steps a call of the host loop (the in-memory loop takes the config's)",
    )  # fmt: skip
    train.set_defaults(func=cmd_bench_train)

    study = bench_kinds.add_parser(
        "study", help="a preset's whole study: each run's hours at the measured speeds"
    )
    study.add_argument("--preset", default="twin", help="a preset with a study")
    study.add_argument("--chapter", nargs="*", default=None, help="only these chapters' runs")
    study.add_argument("--seconds", type=float, default=5.0, help="timed seconds a network")
    study.set_defaults(func=cmd_bench_study)

    sampler = bench_kinds.add_parser("sampler", help="multi-game sampler: transitions/s, memory")
    sampler.add_argument("--games", default="Pong,Breakout,Asterix,Seaquest,SpaceInvaders")
    sampler.add_argument("--steps-per-game", type=int, default=20_000)
    sampler.add_argument("--capacity", type=int, default=10_000)
    sampler.add_argument("--batch-size", type=int, default=512)
    sampler.add_argument("--batches", type=int, default=50)
    sampler.add_argument("--prefetch", action="store_true", help="sample in a background thread")
    sampler.set_defaults(func=cmd_bench_sampler)
    collect_bench = bench_kinds.add_parser(
        "collect", help="the twin's jitted DQN collector: frames/s, gradient steps/s"
    )
    collect_bench.add_argument("--game", default="minatar/Breakout")
    collect_bench.add_argument("--frames", type=int, default=200_000)
    collect_bench.set_defaults(func=cmd_bench_collect)
    read = bench_kinds.add_parser("read", help="peak memory of reading one full-size checkpoint")
    read.add_argument("--rows", type=int, default=1_000_000)
    read.set_defaults(func=cmd_bench_read)

    collect = commands.add_parser("collect", help="play a game and write a DQN Replay run")
    collect.add_argument("--game", required=True)
    collect.add_argument("--policy", default="random", help="random | dqn | greedy-eps:DIR")
    collect.add_argument("--steps", type=int, required=True, help="agent steps in total")
    collect.add_argument("--out", type=pathlib.Path, required=True)
    collect.add_argument("--capacity", type=int, default=1_000_000, help="rows per checkpoint")
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--mode", type=int, default=None)
    collect.add_argument("--difficulty", type=int, default=None)
    collect.add_argument("--epsilon", type=float, default=0.01, help="for greedy-eps")
    collect.add_argument(
        "--checkpoints", type=int, default=None, metavar="N",
        help="stop once the first N checkpoints are written (the run resumes later to the "
        "same files): the first 10 of 50 are all that data.subset=initial:20 reads",
    )  # fmt: skip
    collect.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="a setting of the twin's DQN collector on top of its defaults (repeatable)",
    )  # fmt: skip
    collect.add_argument(
        "--record", metavar="NAME",
        help="a twin run: store its summary as data/collections/NAME/GAME/runSEED.json",
    )  # fmt: skip
    collect.set_defaults(func=cmd_collect)

    train_cmd = commands.add_parser("train", help="train, evaluate and record a run")
    _add_config_args(train_cmd, default_preset="cpu")
    train_cmd.add_argument("--games", help="comma-separated games (shortcut for --set games=...)")
    train_cmd.add_argument("--fresh", action="store_true", help="ignore an existing record")
    train_cmd.add_argument("--workdir", type=pathlib.Path, default=None, help="checkpoints")
    _add_process_args(train_cmd)
    train_cmd.set_defaults(func=cmd_train)

    finetune = commands.add_parser(
        "finetune",
        help="fine-tune the pre-trained run: offline to new games, online to modes",
        description="Trains (or loads) the pre-trained Scaled QL run of the multi-game chapter, "
        "then the fine-tuning runs of chapter 7 (--mode offline) or 8 (--mode online) that "
        "match --variant and --game. --set changes the pre-trained run, and with it the "
        "network every fine-tuning run starts from.",
    )
    finetune.add_argument("--mode", required=True, choices=("offline", "online"))
    _add_config_args(finetune, default_preset="cpu")
    finetune.add_argument("--seed", type=int, default=0)
    finetune.add_argument("--variant", help="e.g. frozen, scratch (default: every variant)")
    finetune.add_argument("--game", help="one held-out game, e.g. Alien (default: all)")
    finetune.add_argument("--fresh", action="store_true", help="ignore existing records")
    finetune.set_defaults(func=cmd_finetune)

    evaluate_cmd = commands.add_parser("evaluate", help="play the games with a trained network")
    _add_config_args(evaluate_cmd, default_preset="cpu")
    evaluate_cmd.add_argument("--workdir", type=pathlib.Path, default=None)
    evaluate_cmd.add_argument("--episodes", type=int, default=None)
    evaluate_cmd.add_argument("--game", default=None, help="one game (default: every head)")
    evaluate_cmd.add_argument("--head", default=None, help="the head to act with")
    evaluate_cmd.add_argument("--mode", type=int, default=None)
    evaluate_cmd.add_argument("--difficulty", type=int, default=None)
    evaluate_cmd.set_defaults(func=cmd_evaluate)

    records = commands.add_parser("records", help="list run records with headline numbers")
    records.set_defaults(func=cmd_records)

    data = commands.add_parser("data", help="inspect datasets")
    data_kinds = data.add_subparsers(dest="data", required=True)
    stats = data_kinds.add_parser(
        "stats", help="episodes, returns and the action played most at the end of each run"
    )
    stats.add_argument("run_dirs", nargs="+", type=pathlib.Path)
    stats.set_defaults(func=cmd_data_stats)

    runs = commands.add_parser("runs", help="every run the book needs at a preset, and its state")
    runs.add_argument(
        "--preset", default="cpu", help="one of: smoke, cpu, gpu, paper, twin-smoke, twin, twin-gpu"
    )
    runs.add_argument("--seed", type=int, default=0)
    runs.add_argument("--train", action="store_true", help="train the missing runs, in order")
    runs.add_argument(
        "--chapter", nargs="+", metavar="NAME",
        help="only these chapters' runs (a prefix will do: 05 08): for a machine that holds "
        "the data of some chapters only, e.g. the twin's initial 20 %% (chapters 4-6 and 8)",
    )  # fmt: skip
    runs.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="K/N",
        help="with --train, train only every N-th planned run from the K-th (0-based), so that N "
        "processes, one a core, share the work: --shard 0/2 and --shard 1/2",
    )
    runs.set_defaults(func=cmd_runs)

    book_cmd = commands.add_parser("book", help="execute the chapters (papermill), build the book")
    book_cmd.add_argument("--preset", default="cpu", help="one of: smoke, cpu, gpu, paper")
    book_cmd.add_argument("--seed", type=int, default=0)
    book_cmd.add_argument("--fresh", action="store_true", help="retrain instead of reusing records")
    book_cmd.add_argument("--only", nargs="+", help="execute only these chapters")
    book_cmd.add_argument("--no-build", action="store_true", help="execute, skip the HTML build")
    book_cmd.set_defaults(func=cmd_book)

    settings = commands.add_parser(
        "settings", help="every --set key with its value at a preset, its default and meaning"
    )
    _add_config_args(settings, default_preset="cpu")
    settings.set_defaults(func=cmd_settings)

    params = commands.add_parser(
        "params", help="parameter counts of every encoder (or of the Decision Transformer)"
    )
    _add_config_args(params, default_preset="paper")
    params.add_argument("--only-preset", action="store_true", help="only the preset's encoder")
    params.add_argument("--widths", help="comma-separated widths, e.g. 0.25,1 (default: preset's)")
    params.set_defaults(func=cmd_params)
    return parser


def use_compilation_cache() -> None:
    """Keeps XLA's compiled programs on disk between commands (JAX's persistent compilation
    cache, in the cache root's jax/ folder unless JAX_COMPILATION_CACHE_DIR names one): every
    run of a study compiles the same programs, and gymnax's games alone take 10-25 s each to
    compile on one core (about 3 s each to load again). Set in the environment too, so that
    the book's kernels, which papermill starts as new processes, use the same cache. Programs
    under JAX's default threshold of 1 s are kept too: a network's eager initialisation alone
    compiles about 90 small ones (10 s of a smoke run)."""
    path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(cache_root() / "jax")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)  # the command, for provenance
    use_compilation_cache()
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as error:  # bad input: one clear line, no traceback
        print(f"scaledql: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (`scaledql runs | head`): not an error
        # what is still buffered has nowhere to go; without this, exiting flushes it and fails again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
