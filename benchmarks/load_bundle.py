"""Print how long `load_bundle` takes from a local folder, and from object stores, side by side.

    .venv/bin/python -m benchmarks.load_bundle --sizes 100k,1M --runs 5
    .venv/bin/python -m benchmarks.load_bundle --sizes 1M --before /tmp/before   # vs an older checkout
    .venv/bin/python -m benchmarks.load_bundle --sizes 100k --remote memory,s3

Each load runs in a fresh process (what a serving replica pays at start or on a hot reload),
subjects interleaved run by run so a busy machine slows them alike; the page cache is warm for
local files (read once before timing). CPU seconds (all threads of the process) are printed
beside wall time: on a shared machine they move less with the load of other processes. `--before DIR` adds the same load with the `music_assets`
package found in DIR (e.g. `git archive <commit> music_assets | tar -x -C DIR`), to compare code
versions on the same bundle. `--remote memory` copies the bundle into fsspec's in-memory store
(the cost of going through fsspec, no network); `--remote s3` into a local moto S3 server over
HTTP (needs the test extra). Demo bundles are cached like the other benchmarks' (common.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import demo_models_dir, print_table, sizes_arg

ROOT = Path(__file__).resolve().parents[1]

LOCAL = """
import json, sys, time
from music_assets.model.bundle import load_bundle
import music_assets
t, c = time.perf_counter(), time.process_time(); b = load_bundle(sys.argv[1])
s, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": s, "cpu": cpu, "tracks": len(b.tracks), "ann": b.ann is not None, "code": music_assets.__file__}))
"""

REMOTE = """
import json, os, socket, sys, time
import fsspec
from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import load_bundle
kind, models = sys.argv[2], sys.argv[1]
if kind == "s3":
    import logging
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False); server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    fsspec.filesystem("s3").mkdir("bench")
    url = "s3://bench/models"
else:
    url = "memory://bench/models"
remote = storage.as_path(url)
version = registry.read_pointer(models)
remote.fs.put(os.path.join(models, version), (remote / version).path, recursive=True)
registry.publish_pointer(remote, version)
t, c = time.perf_counter(), time.process_time(); b = load_bundle(url)
s, cpu = time.perf_counter() - t, time.process_time() - c  # cpu includes the in-process S3 server's
print(json.dumps({"seconds": s, "cpu": cpu, "tracks": len(b.tracks), "ann": b.ann is not None, "code": kind}))
"""


def run(code: str, args: list[str], pythonpath: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=pythonpath, timeout=900)
    if out.returncode:
        raise RuntimeError(f"load_bundle child ({' '.join(args)}) exited {out.returncode}:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="folder holding an older music_assets package")
    parser.add_argument("--remote", default="", help="comma-separated: memory, s3")
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        models = demo_models_dir(n)
        for p in models.rglob("*"):  # warm the page cache: every subject reads from memory
            if p.is_file():
                p.read_bytes()
        subjects: dict[str, tuple[str, list[str], Path]] = {"local, this code": (LOCAL, [str(models)], ROOT)}
        if args.before:
            subjects = {"local, before": (LOCAL, [str(models)], args.before.resolve()), **subjects}
        for kind in filter(None, args.remote.split(",")):
            subjects[f"{kind}://"] = (REMOTE, [str(models), kind], ROOT)
        times: dict[str, list[float]] = {name: [] for name in subjects}
        cpu: dict[str, list[float]] = {name: [] for name in subjects}
        info: dict[str, dict] = {}
        for _ in range(args.runs):
            for name, (code, argv, path) in subjects.items():
                info[name] = run(code, argv, path)
                times[name].append(info[name]["seconds"])
                cpu[name].append(info[name]["cpu"])
        first = statistics.median(next(iter(times.values())))
        for name, secs in times.items():
            rows.append({"tracks": f"{info[name]['tracks']:,}", "subject": name, "ANN index": info[name]["ann"],
                         "median s": f"{statistics.median(secs):.3f}", "min s": f"{min(secs):.3f}",
                         "max s": f"{max(secs):.3f}", "ratio": f"{statistics.median(secs) / first:.2f}",
                         "median CPU s": f"{statistics.median(cpu[name]):.3f}"})
    print_table(rows, f"load_bundle, {args.runs} fresh processes per subject, interleaved")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
