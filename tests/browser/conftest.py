"""Browser tests run last: they are the slowest layer and need everything else to work."""

import pytest

# The tests write executed notebooks and HTML here; they are results, not tests.
collect_ignore_glob = ["output/*", "node_modules/*"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    browser = [item for item in items if item.get_closest_marker("browser")]
    if browser:
        items[:] = [item for item in items if not item.get_closest_marker("browser")] + browser
