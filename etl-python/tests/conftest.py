"""Fixtures of the package's tests: the sample base and a PostgreSQL server,
on 127.0.0.1."""

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import etl


@pytest.fixture
def sample() -> Iterator[etl.SampleAirtable]:
    """The sample base, served with no rate limit (tests need no waiting)."""
    with etl.SampleAirtable(rate_limit=None) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: ETL_TEST_POSTGRES_URL, or a throw-away
    cluster of Debian's server binaries on 127.0.0.1 (as the Rust tests)."""
    given = os.environ.get("ETL_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.fail(
            "PostgreSQL's server binaries are missing: install Debian's postgresql "
            "(.ci/test does) or set ETL_TEST_POSTGRES_URL"
        )
    bin = Path(initdbs[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="etl-py-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster is postgres's
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run(
        [*run_as, str(bin / "initdb"), "-D", str(data), "-U", "etl", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    postgres = shlex.join(
        [
            *run_as, str(bin / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
            "-c", "fsync=off", "-c", "synchronous_commit=off",
        ]
    )
    # The server behind a watcher: if this process dies without its
    # teardown (killed), the watcher stops the server and removes the folder.
    watcher = (
        f"{postgres} >{root}/server.log 2>&1 & pg=$!; "
        f"while kill -0 {os.getpid()} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.3; done; "
        f"if ! kill -0 {os.getpid()} 2>/dev/null; then "
        f"kill -INT $(head -n1 {data}/postmaster.pid) 2>/dev/null; wait $pg; rm -rf {root}; fi"
    )
    server = subprocess.Popen(
        ["sh", "-c", watcher],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(200):
            ready = subprocess.run(
                [str(bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the throw-away PostgreSQL cluster did not start")
        yield f"postgres://etl@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bin / "pg_ctl"), "stop", "-D", str(data), "-m", "fast"],
            capture_output=True,
        )
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres(postgres_server: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    """The server's URL and a schema of the test's own."""
    return postgres_server, "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
