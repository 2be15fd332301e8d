import pytest

from .python_client import generate, import_package


def pytest_configure(config):
    # Registered here too so that --strict-markers accepts it when pytest-xdist is off (-p no:xdist).
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one pytest-xdist worker")


@pytest.fixture(scope="session")
def python_client(tmp_path_factory):
    """The client openapi-python-client generates from openapi.yaml, generated once per session and importable
    as `couples_api_client`."""
    generation = generate(tmp_path_factory.mktemp("python-client"))
    assert generation.returncode == 0, generation.output
    import_package(generation)
    return generation
