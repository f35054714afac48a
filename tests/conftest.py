import pytest


@pytest.fixture
def own_storage(tmp_path, monkeypatch):
    """A test's own data cache, run records and collection summaries, under tmp_path."""
    for variable, folder in (
        ("SCALEDQL_CACHE", "cache"),
        ("SCALEDQL_RESULTS", "results"),
        ("SCALEDQL_COLLECTIONS", "collections"),
    ):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    return tmp_path
