"""Benchmarks that print figures: the jitted update's speed and FLOPs on the device JAX sees."""

from __future__ import annotations

import dataclasses
import time

import jax

from scaledql import networks, train
from scaledql.configs import Config


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
        if self.steps_per_s is not None:
            lines += [
                f"gradient steps/s  {self.steps_per_s:.2f}",
                f"samples/s         {self.samples_per_s:,.0f}",
            ]
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


def bench_update(config: Config, steps: int = 50, warmup: int = 5) -> UpdateBenchmark:
    """Times the jitted update of `config` on a fixed random batch already on the device.

    With `steps=0` it only compiles (from shapes, allocating nothing) and reports the FLOPs per
    step, which is how the `gpu` and `paper` presets are costed on a machine that cannot run them.
    """
    update = train.make_update(config)
    if steps == 0:
        state = jax.eval_shape(lambda: train.create_train_state(config, jax.random.key(0)))
        batch = jax.eval_shape(lambda: train.random_batch(config))
    else:
        state = train.create_train_state(config, jax.random.key(config.seed))
        batch = jax.device_put(train.random_batch(config))
    start = time.perf_counter()
    compiled = update.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()} ({jax.default_backend()})"
    params = networks.param_count(config)
    size = config.train.batch_size
    if steps == 0:
        return UpdateBenchmark(device, size, params, None, None, _flops(compiled), compile_s)
    for _ in range(warmup):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    elapsed = time.perf_counter() - start
    return UpdateBenchmark(
        device, size, params, steps / elapsed, steps * size / elapsed, _flops(compiled), compile_s
    )
