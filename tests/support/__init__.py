"""Support code shared by the tests and the bench scripts (not part of the product).

- :mod:`tests.support.stack`: private stacks (free ports, temp folders), simulate and wait for exact rollups;
- :mod:`tests.support.chdb_engine`: a current ClickHouse engine (chDB, in-process) behind ``execute``;
- :mod:`tests.support.synthetic`: generated rollups of a replayed festival, and a known-total set;
- :mod:`tests.support.browser`: headless Chromium, the app served in a thread, waits and a TCP proxy;
- :mod:`tests.support.showcase`: the festival the README's pictures show, and the walk that takes them.

Tests import them as ``tests.support.*`` (pyproject.toml puts the repository root on pytest's
path); bench scripts put the repository root on ``sys.path`` and do the same.
"""
