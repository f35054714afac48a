"""A write that fails leaves the old file as it was and no temporary file behind."""

import pytest

from scaledql.atomic import atomic_file, write_json


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "record.json"
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic_file(path, "w") as f:
        f.write('{"half": ')
        raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
