"""Benchmarks that print figures: the jitted update's speed and FLOPs on the device JAX sees,
the multi-game sampler's throughput, and the memory of reading a full-size checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import threading
import time

import jax
import numpy as np
from isal import igzip

from scaledql import configs, data, distributed, envs, learner, networks, offline
from scaledql.configs import Config
from scaledql.data import MultiGameSampler, RandomPolicy, cache_root, collect, open_run
from scaledql.data import format as fmt

# --- the update ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class UpdateBenchmark:
    """Speed of `steps` timed gradient steps after compilation and warm-up."""

    device: str
    batch_size: int
    params: int
    steps_per_s: float | None  # None when only compiled
    samples_per_s: float | None
    flops_per_step: float | None
    compile_s: float
    seeds: int = 1  # training runs updated at once (vmapped); steps/s is each run's
    processes: int = 1  # processes sharing each batch (`scaledql.distributed`)

    @property
    def achieved_flops(self) -> float | None:
        if self.flops_per_step is None or self.steps_per_s is None:
            return None
        return self.flops_per_step * self.steps_per_s

    def report(self) -> str:
        lines = [
            f"device            {self.device}",
            f"parameters        {self.params:,}",
            f"batch size        {self.batch_size}",
            f"compile           {self.compile_s:.1f} s",
        ]
        if self.seeds > 1:
            lines.append(f"seeds             {self.seeds} in one vmapped update")
        if self.steps_per_s is not None:
            lines += [
                f"gradient steps/s  {self.steps_per_s:.2f}" + (" a seed" if self.seeds > 1 else ""),
                f"samples/s         {self.samples_per_s:,.0f}"
                + (" all seeds" if self.seeds > 1 else ""),
            ]
            if self.processes > 1:
                lines[-1] += f" over {self.processes} processes"
                lines.append(
                    f"samples/s         {self.samples_per_s / self.processes:,.0f} a process"
                )
        if self.flops_per_step is not None:
            lines.append(f"GFLOP per step    {self.flops_per_step / 1e9:.2f}  (XLA cost analysis)")
        if self.achieved_flops is not None:
            lines.append(f"achieved GFLOP/s  {self.achieved_flops / 1e9:.1f}")
        return "\n".join(lines)


def _flops(compiled) -> float | None:
    """FLOPs of a compiled computation from XLA's cost analysis (None where unavailable)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list | tuple):  # older JAX returns one dict per computation
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


def bench_update(
    config: Config, steps: int = 50, warmup: int = 5, seeds: int = 1
) -> UpdateBenchmark:
    """Times the jitted update of `config` on a fixed random batch already on the device.

    With `steps=0` it only compiles (from shapes, allocating nothing) and reports the FLOPs per
    step, which is how the `gpu` and `paper` presets are costed on a machine that cannot run them.
    With `seeds` > 1 the update is vmapped over that many runs (seeds config.seed, +1, ...), each
    with its own state and batch: whether several seeds train faster in one program.
    """
    update = learner.make_update(config)
    k = config.train.steps_per_call
    if seeds > 1 and distributed.count() > 1:
        raise ValueError("--seeds vmaps runs on one process's device; run it as one process")

    def one_run(seed: int):  # K steps a call take K batches stacked on a leading axis
        run = dataclasses.replace(config, seed=config.seed + seed)
        batch = learner.random_batch(config, seed)
        batch = batch if k == 1 else jax.tree.map(lambda x: np.stack([x] * k), batch)
        return learner.create_train_state(run, learner.random_params(run)), batch

    def runs():
        if seeds == 1:
            return one_run(0)
        each = [one_run(s) for s in range(seeds)]
        return jax.tree.map(lambda *x: np.stack(x), *each)

    if seeds > 1:
        update = jax.jit(jax.vmap(update))
    if steps == 0:
        state, batch = jax.eval_shape(runs)
    elif seeds > 1:
        state, batch = jax.device_put(runs())
    else:  # as training lays them out: the batch split over every device, the state replicated
        mesh = distributed.data_mesh()
        offline.check_batch_split(config)
        state, batch = runs()
        share = distributed.local_rows(mesh, config.train.batch_size)
        batch = jax.tree.map(lambda x: x[share] if k == 1 else x[:, share], batch)
        batch = distributed.global_batch(batch, mesh, k)
        state = distributed.replicated(state, mesh)
    start = time.perf_counter()
    compiled = update.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()} ({jax.default_backend()})"
    params = networks.param_count(config)
    size = config.train.batch_size
    if steps == 0:
        return UpdateBenchmark(device, size, params, None, None, _flops(compiled), compile_s, seeds)
    for _ in range(warmup):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    elapsed = time.perf_counter() - start
    # XLA's cost analysis counts a loop's body once: with K steps a call it is still one step's
    return UpdateBenchmark(
        device, size, params, steps * k / elapsed, steps * k * size * seeds / elapsed,
        _flops(compiled), compile_s, seeds, distributed.count(),
    )  # fmt: skip


# --- the training loop -----------------------------------------------------------------------


def bench_train(config: Config, runs, seconds: float = 20.0, host_steps_per_call: int = 10):
    """Samples/s of the whole offline loop on `runs` (the config's opened data), sampling
    included: the host loop (`train.sampler=host`, numpy batches a thread ahead,
    `host_steps_per_call` steps a call) and the in-memory loop (`train.sampler=memory`, the
    config's steps a call), each timed for about `seconds` after its first call.

    Returns {loop: {steps_per_call, setup_s, compile_s, samples_per_s}}."""
    results = {}
    mesh = distributed.data_mesh()
    share = distributed.local_rows(mesh, config.train.batch_size)
    for loop, k in (("host", host_steps_per_call), ("memory", config.train.steps_per_call)):
        train = dataclasses.replace(config.train, sampler=loop, steps_per_call=k)
        run = dataclasses.replace(config, train=train)
        started = time.perf_counter()
        advance, _, close = offline._stepper(run, runs, share, mesh)
        setup_s = time.perf_counter() - started
        state = distributed.replicated(
            learner.create_train_state(run, learner.random_params(run)), mesh
        )
        started = time.perf_counter()
        state, metrics = advance(state, 0)
        jax.block_until_ready(metrics)
        compile_s, step = time.perf_counter() - started, k
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            state, metrics = advance(state, step)
            step += k
        jax.block_until_ready(metrics)
        elapsed = time.perf_counter() - started
        close()
        results[loop] = {
            "steps_per_call": k,
            "setup_s": setup_s,
            "compile_s": compile_s,
            "samples_per_s": (step - k) * config.train.batch_size / elapsed,
        }
    return results


# --- a whole study ---------------------------------------------------------------------------


def planned_transitions(config: Config) -> int:
    """The transitions a collected run's subset holds, from the settings alone: the subset's
    share of `data.steps_per_game` for each game and run (a budget in passes scales with it)."""
    subset = data.parse_subset(config.data.subset)
    share = 1.0 if subset.kind == "all" else subset.percent / 100
    runs = len(config.games) * len(config.data.runs)
    return round(share * config.data.steps_per_game * runs)


def speed_key(config: Config) -> Config:
    """What a run's gradient step costs depends on: its network, objective and batch, the
    number of heads and whether its encoder is frozen; not its seed, data, budget, or which
    games and pre-trained run (a twin game's grid is padded to the widest game's)."""
    games = config.games
    if envs.check_family(games) == "minatar":
        games = envs.minatar.ALL_GAMES[: len(games)]
    return dataclasses.replace(
        config, seed=0, games=games, data=dataclasses.replace(config.data, subset="all"),
        # a frozen encoder needs a pre-trained run named; any name costs the same
        finetune=dataclasses.replace(
            config.finetune, pretrained="0" * 12 if config.finetune.encoder == "frozen" else ""
        ),
        online=dataclasses.replace(config.online, agent_steps=0, mode=None),
        train=dataclasses.replace(config.train, steps_per_call=10, passes=0.0),
    )  # fmt: skip


def estimate_study(planned, evaluate_s_per_game: float, seconds: float = 5.0) -> list[dict]:
    """Each planned run's estimated hours on one core: its gradient steps at the speed its
    network, objective and batch are measured to train at here (`bench_update`, 10 steps a
    call, about `seconds` of steps for each distinct kind), plus `evaluate_s_per_game` for
    each game and evaluation point. An online run's acting is not counted, only its
    gradient steps (one every `online.update_period` agent steps).

    planned: (chapter, label, config) as `studies.book_runs` lists them."""
    speeds: dict[Config, float] = {}
    rows = []
    for chapter, label, config in planned:
        key = speed_key(config)
        if key not in speeds:
            quick = bench_update(key, steps=1, warmup=1)
            calls = max(1, round(seconds * quick.steps_per_s / 10))
            speeds[key] = bench_update(key, steps=calls, warmup=1).steps_per_s
        if config.online.agent_steps:
            steps, points = config.online.agent_steps // config.online.update_period, 1
        else:
            steps = configs.gradient_steps(config, planned_transitions(config))
            points = len(configs.evaluation_steps(config, steps))
        evaluating = 0.0 if config.loss.kind == "mae" else points * len(config.games)
        hours = (steps / speeds[key] + evaluating * evaluate_s_per_game) / 3600
        rows.append({"chapter": chapter, "label": label, "steps": steps, "hours": hours})
    return rows


# --- the twin's collector ----------------------------------------------------------------------


def bench_collect(game: str, frames: int) -> dict:
    """Frames/s and gradient steps/s of the twin's jitted DQN collector on `game`, from a fresh
    collection of `frames` frames in a temporary directory (compilation included: the first
    block's time is reported apart)."""
    from scaledql.agents import minatar_dqn

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        collection = minatar_dqn.collect(game, frames, pathlib.Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - started
    config = collection.config
    online = config.online
    steps = max(0, frames - online.warmup) // online.update_period
    return {
        "game": game,
        "frames": frames,
        "wall_s": wall,
        "frames_per_s": frames / wall,
        "gradient_steps_per_s": steps / wall,
        "batch_size": config.train.batch_size,
        "episodes": len(collection.log["episodes"]),
    }


# --- the data --------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB).

    It counts the pages of memory-mapped cache files that were mapped, as well as the heap: on
    recent kernels a single random read can map a whole large page-cache folio (up to 2 MB).
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonymousMemoryPeak:
    """Samples this process's anonymous resident memory (RssAnon: heap, not file pages)."""

    def __init__(self, interval_s: float = 0.005):
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s):
        while not self._stop.is_set():
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(interval_s)

    def stop(self) -> float:
        """Stops sampling; returns the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def bench_sampler(games, steps_per_game, capacity, batch_size, batches, prefetch) -> dict:
    """Samples `batches` batches from random-policy runs of `games` (collected once, cached)."""
    runs = []
    for game in games:
        run_dir = cache_root() / "bench" / f"{game}-{steps_per_game}-{capacity}"
        if not (run_dir / "collection.json").exists() or not json.loads(
            (run_dir / "collection.json").read_text()
        ).get("complete"):
            collect(
                game,
                RandomPolicy(envs.num_actions(game)),
                steps_per_game,
                run_dir,
                capacity=capacity,
            )
        runs.append([open_run(run_dir)])
    sampler = MultiGameSampler(runs, batch_size, seed=0)
    source = sampler.prefetch(depth=4) if prefetch else iter(sampler.sample, None)
    next(source)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        next(source)
    elapsed = time.perf_counter() - start
    if prefetch:
        source.close()
    return {
        "games": len(games),
        "rows": sum(r[0].num_rows for r in runs),
        "batch_size": batch_size,
        "batches_per_s": batches / elapsed,
        "transitions_per_s": batches * batch_size / elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }


def write_synthetic_checkpoint(run_dir: pathlib.Path, rows: int, source_frames: np.ndarray) -> None:
    """Writes suffix 0 of a `rows`-capacity run, streaming (never the whole array in memory).

    Frames cycle through `source_frames` (real ALE frames, so compression is realistic);
    episodes of 1,000 rows with Dopamine's 3 padding rows.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    positions = np.arange(rows)
    in_episode = positions % 1003
    padding = in_episode < 3
    terminal = (in_episode == 1002).astype(np.uint8)
    small = {
        "action": np.where(padding, 0, positions % 4).astype(np.int32),
        "reward": np.zeros(rows, np.float32),
        "terminal": terminal,
    }
    for name, array in small.items():
        fmt.write_array(fmt.store_path(run_dir, name, 0), array)
    fmt.write_array(fmt.scalar_path(run_dir, "add_count", 0), np.array(rows - 1, np.int64))
    fmt.write_array(
        fmt.scalar_path(run_dir, "invalid_range", 0),
        np.array([(rows - 2 + i) % rows for i in range(5)], np.int64),
    )
    path = fmt.store_path(run_dir, "observation", 0)
    with igzip.open(path, "wb", compresslevel=1) as gz:
        header = {"descr": "|u1", "fortran_order": False, "shape": (rows, *fmt.FRAME_SHAPE)}
        np.lib.format.write_array_header_1_0(gz, header)
        chunk = 10_000
        for start in range(0, rows, chunk):
            index = np.arange(start, min(rows, start + chunk))
            frames = source_frames[index % len(source_frames)]
            frames[padding[index]] = 0
            gz.write(frames.tobytes())


def bench_read(rows: int) -> dict:
    """Peak memory and time of opening (building the cache of) one `rows`-row checkpoint.

    The checkpoint is written by this process; the reading is measured in a fresh child
    process so that its peak resident memory is the reader's alone.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        env = envs.make_env("Pong", seed=0)
        frames = [env.reset()[0]]
        for _ in range(2_999):
            frame, _, done, truncated, _ = env.step(env.action_space.sample())
            frames.append(env.reset()[0] if done or truncated else frame)
        write_synthetic_checkpoint(tmp / "run", rows, np.stack(frames))
        code = (
            "import json, time, numpy as np; from scaledql.data import open_run;"
            "from scaledql.benchmarks import AnonymousMemoryPeak, peak_rss_mb;"
            "anon = AnonymousMemoryPeak(); t = time.perf_counter();"
            f"run = open_run({str(tmp / 'run')!r}); build = time.perf_counter() - t;"
            "v = np.flatnonzero(run.valid_mask()); rng = np.random.default_rng(0);"
            "[run.get(rng.choice(v, 512)) for _ in range(20)];"
            "print(json.dumps({'rows': run.num_rows, 'cache_build_s': build,"
            " 'peak_anon_mb': anon.stop(), 'peak_rss_mb': peak_rss_mb()}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "SCALEDQL_CACHE": str(tmp / "cache")},
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        result["gz_mb"] = fmt.store_path(tmp / "run", "observation", 0).stat().st_size / 1e6
        result["frames_gb"] = rows * 84 * 84 / 1e9
        return result
