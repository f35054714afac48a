"""One training run over several processes: JAX's multi-controller runtime (`jax.distributed`).

Each process (a host of a TPU pod slice, a node of a GPU cluster, or a local CPU process in
the tests) runs the same command. The batch of every step is split over all the devices of all
the processes along one mesh axis; each process samples and holds only its own rows of it
(`local_rows`, `global_batch`), parameters are replicated. With one process every function
here is the plain single-process behaviour.

Collectives must be reached by every process in the same order, so each helper that exchanges
data is called on all of them, including the checks that stop a run (`stop_if_any`).
"""

from __future__ import annotations

import itertools
import json
import pathlib
import secrets
import socket

import jax
import numpy as np
from jax.experimental import multihost_utils


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins this process to the others of its run, before JAX touches a device.

    With no arguments JAX finds the cluster itself (a TPU pod slice, a SLURM job, an Open MPI
    launch); otherwise coordinator is HOST:PORT of process 0, which every process names. CPU
    devices exchange data through gloo (the GPU and TPU backends bring their own collectives).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
    # The first collective connects the processes, and gloo gives up when one of them comes
    # much later than the others (seen on a loaded CPU); right after joining, none is late.
    barrier("joined")


def index() -> int:
    """This process's index, 0 to count() - 1."""
    return jax.process_index()


def count() -> int:
    """How many processes share the run."""
    return jax.process_count()


def is_leader() -> bool:
    """Whether this process writes what is written once: records, learning curves, logs."""
    return jax.process_index() == 0


def where() -> str:
    """This process, as an error names it: its index and its host."""
    return f"process {jax.process_index()} of {jax.process_count()} (host {socket.gethostname()})"


def all_json(value) -> list:
    """[the JSON-able `value` of each process], in process order, on every process."""
    if count() == 1:
        return [value]
    text = np.frombuffer(json.dumps(value).encode(), np.uint8)
    sizes = multihost_utils.process_allgather(np.array(len(text), np.int64))
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[: len(text)] = text
    rows = multihost_utils.process_allgather(padded)
    return [json.loads(bytes(row[:size])) for row, size in zip(rows, sizes, strict=True)]


def leader_json(value):
    """Process 0's JSON-able `value`, on every process: one decision that all of them follow."""
    return value if count() == 1 else all_json(value)[0]


def stop_if_any(problem: str | None) -> None:
    """Raises ValueError on every process if any process has a problem (a message, or None),
    naming each process that has one: no process trains on while another stopped."""
    problems = all_json(problem)
    found = [(i, p) for i, p in enumerate(problems) if p]
    if not found:
        return
    if count() == 1:
        raise ValueError(found[0][1])
    hosts = all_json(socket.gethostname())
    raise ValueError(
        "; ".join(f"process {i} of {count()} (host {hosts[i]}): {p}" for i, p in found)
    )


def barrier(name: str) -> None:
    """Waits until every process has reached the barrier of this name."""
    if count() > 1:
        multihost_utils.sync_global_devices(name)


def check_shared(directory: pathlib.Path, fix: str) -> None:
    """Stops every process unless all of them see `directory` as one folder (process 0 leaves
    a mark there for the others to find, then removes it and any folder it made for it)."""
    if count() == 1:
        return
    directory = pathlib.Path(directory)
    mark = directory / f".shared-{leader_json(secrets.token_hex(8))}"
    made = not directory.exists()
    if is_leader():
        directory.mkdir(parents=True, exist_ok=True)
        mark.touch()
    barrier(f"{mark} made")
    seen = mark.exists()
    barrier(f"{mark} seen")
    if is_leader():
        mark.unlink()
        if made:
            directory.rmdir()
    stop_if_any(None if seen else f"{directory} is not the folder process 0 writes into; {fix}")


def data_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh over every device of every process: batches split along it, parameters
    replicated."""
    return jax.sharding.Mesh(np.array(jax.devices()), ("data",))


def batch_sharding(mesh: jax.sharding.Mesh, steps_per_call: int) -> jax.sharding.NamedSharding:
    """How a batch lies on the mesh: split along its batch axis (axis 1 when K steps a call
    stack K batches on axis 0)."""
    axes = (None, "data") if steps_per_call > 1 else ("data",)
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*axes))


def local_rows(mesh: jax.sharding.Mesh, batch_size: int) -> slice:
    """The rows of a global batch of `batch_size` that this process's devices hold: the rows
    it samples."""
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    spans = sorted(
        (s.start or 0, batch_size if s.stop is None else s.stop)
        for (s,) in sharding.addressable_devices_indices_map((batch_size,)).values()
    )
    if any(a[1] != b[0] for a, b in itertools.pairwise(spans)):
        raise ValueError(f"the devices of {where()} hold rows {spans} of the batch, not one span")
    return slice(spans[0][0], spans[-1][1])


def global_batch(batch: dict, mesh: jax.sharding.Mesh, steps_per_call: int) -> dict:
    """The global batch whose local rows are this process's `batch` (numpy arrays)."""
    sharding = batch_sharding(mesh, steps_per_call)
    axis = 1 if steps_per_call > 1 else 0

    def one(x):
        shape = list(x.shape)
        shape[axis] *= count()
        return jax.make_array_from_process_local_data(sharding, x, tuple(shape))

    return jax.tree.map(one, batch)


def replicated(tree, mesh: jax.sharding.Mesh):
    """`tree`, which every process holds the same, as arrays replicated over the mesh (with
    several processes, without the whole-tree comparison `jax.device_put` makes)."""
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    if count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def local_copy(tree):
    """A copy of a replicated tree on this process's first device alone: what code outside
    the mesh (evaluation's jitted policies) can mix with its own arrays."""
    if count() == 1:
        return tree
    return jax.device_put(jax.device_get(tree), jax.local_devices()[0])
