"""A write that fails leaves the old file as it was and no temporary file behind; a run directory
held by one process is refused to another, and freed when its holder dies."""

import subprocess
import sys

import pytest

from scaledql import data, offline
from scaledql.atomic import atomic_file, exclusive, write_json
from scaledql.configs import preset


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "record.json"
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic_file(path, "w") as f:
        f.write('{"half": ')
        raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_a_held_directory_is_refused_to_a_second_process_until_the_holder_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from scaledql.atomic import exclusive\n"
         "with exclusive(sys.argv[1], 'a test'):\n print('held', flush=True); time.sleep(60)",
         str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match=f"in use by pid {holder.pid}, running a test;"):
            with exclusive(tmp_path, "another test"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path, "another test"):  # the kernel dropped the dead holder's lock
        pass


def test_training_and_collection_refuse_a_directory_in_use(tmp_path):
    with exclusive(tmp_path, "a test"):
        with pytest.raises(RuntimeError, match="in use by pid [0-9]+, running a test;"):
            offline.train_offline(preset("smoke"), tmp_path, runs=[])
        with pytest.raises(RuntimeError, match="in use by pid [0-9]+, running a test;"):
            data.collect("Pong", data.RandomPolicy(6), 10, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
