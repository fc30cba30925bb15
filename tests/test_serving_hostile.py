"""Hostile clients against the real default server (`python -m serving` in its own process on
127.0.0.1), with the attacks of benchmarks/serving_attacks.py at a bounded size: slow headers
from more connections than waitress's old limit, clients that never read, bodies of a gigabyte,
SIGTERM to a server whose parent ignores it. The health probe must keep answering throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.serving_attacks import (BODY_BYTES, Sampler, ServerProcess, big_body, non_reading, preview_path,
                                        probing, sigterm_ignored, slowloris)


@pytest.fixture(scope="module")
def default_server(demo_data_dir: Path):
    """`python -m serving` with every default (granian, rate limits on), shared by the slow-client
    attacks (each probes and samples it afresh)."""
    server = ServerProcess(demo_data_dir, [], rate_limits=True)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_a_bounded_slowloris_leaves_the_health_probe_answering(default_server) -> None:
    """110 connections dribbling headers (the old default's limit was 100: every probe failed)."""
    with probing(default_server.port) as probes:
        attack = slowloris(default_server.port, connections=110, seconds=15, interval=3)
    assert attack["opened"] == 110 and attack["refused"] == 0
    assert len(probes.results) >= 20 and probes.ok == len(probes.results), probes.results
    assert probes.worst_s < 2.0


def test_clients_that_never_read_leave_the_health_probe_answering(default_server, demo_data_dir: Path) -> None:
    path = preview_path(demo_data_dir / "models")  # a few hundred kB per answer, none of them read
    sampler = Sampler(default_server)
    with probing(default_server.port) as probes:
        attack = non_reading(default_server.port, path, clients=10, seconds=10, sampler=sampler)
    assert attack["requests sent"] >= 10
    assert len(probes.results) >= 15 and probes.ok == len(probes.results), probes.results
    assert sampler.tmp_growth < 1 and sampler.rss_growth < 200  # answers are not piled up without bound


@pytest.fixture(scope="module", params=[[], ["--server", "waitress"]], ids=["default", "waitress"])
def body_server(request: pytest.FixtureRequest, demo_data_dir: Path):
    """One server of each kind for both big-body attacks (each attack samples it afresh)."""
    server = ServerProcess(demo_data_dir, request.param, rate_limits=True)
    try:
        server.wait_ready()
        yield server, request.param
    finally:
        server.stop()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_gigabyte_body_is_refused_before_it_is_read(body_server, chunked: bool) -> None:
    """POST of a declared 1 GiB to a GET-only route, and a chunked stream to GET /healthz: refused
    from the headers; the server's memory and temporary files do not grow by the body (the old
    default spooled the stream whole to /tmp: 1,021 MB)."""
    server, server_args = body_server
    assert server.proc.poll() is None  # the other attack left it running
    sampler = Sampler(server)
    with probing(server.port) as probes:
        result = big_body(server.port, chunked=chunked, limit=BODY_BYTES, seconds=30, sampler=sampler)
    assert result["answer"].split()[1:2] == (["400"] if chunked and not server_args else ["413"]), result
    assert result["outcome"] != "took it all" and result["MiB sent"] < 64, result
    assert sampler.tmp_growth < 1 and sampler.rss_growth < 50, (sampler.tmp_growth, sampler.rss_growth)
    assert probes.ok == len(probes.results)


@pytest.mark.parametrize("server_args", [[], ["--workers", "2"], ["--server", "waitress"]],
                         ids=["default", "granian-2-workers", "waitress"])
def test_sigterm_stops_the_server_even_when_its_parent_ignored_sigterm(demo_data_dir: Path, server_args) -> None:
    """A harness that ignored SIGTERM left `python -m serving` running for hours: SIG_IGN is
    inherited through fork and exec, so the server installs its own handlers."""
    result = sigterm_ignored(demo_data_dir, server_args, wait=20)
    assert result["stopped"], result
    assert result["seconds"] < 20
