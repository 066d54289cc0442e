"""The main job (``make demo``): the whole product on the built-in synthetic data, step by step.

    python pipelines/demo.py [--base saved_models] [--runs runs] [--user u1]

1. train the sequential multimodal retrieval model (MiniLM text, EfficientNet-Lite0 images, frozen
   and cached; ``pipelines/configs/demo_retrieval.yaml``) and evaluate it against popularity;
2. train a ranker over its top 100 candidates (``demo_ranking.yaml``; the catalogue's content comes
   from the content cache the first step filled);
3. export retrieval, candidate encoder and ranking as TF Serving versions;
4. start ``tfrec serve`` on a free loopback port, in the background;
5. recommend for one user over gRPC, two-stage, with titles and reasons;
6. add a new (cold) item with ``tfrec index add`` and show the served model retrieves it by its content;
7. stop the server (also when a step fails) and print the TensorBoard command.

TensorFlow's own log lines are counted, not shown.

Every step is a ``tfrec`` command, printed before it runs, with its duration after.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pandas as pd

BIN = os.path.dirname(sys.executable)
TFREC = os.path.join(BIN, "tfrec")
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
NEW_ITEM = "new-arrival-1"
# TensorFlow's own log lines (C++ "E0000 ..." and Python "WARNING:tensorflow:...") are not the product's output.
TENSORFLOW_CHATTER = re.compile(r"^([EWI]\d{4} \d\d:\d\d|WARNING:tensorflow:|WARNING: All log messages before)")
timings: list[tuple[str, float]] = []


def step(title: str, *args: str) -> str:
    """Runs ``tfrec ARGS`` with its output shown as it comes; returns that output; a failure stops the demo."""
    print(f"\n== {title}\n$ tfrec {shlex.join(args)}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen([TFREC, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, hidden = [], 0
    for line in process.stdout:
        lines.append(line)
        if TENSORFLOW_CHATTER.match(line):
            hidden += 1
            continue
        print(f"  {line}", end="", flush=True)
    if process.wait():
        raise SystemExit(f"demo: `tfrec {args[0]}` failed (exit status {process.returncode})")
    seconds = time.monotonic() - started
    timings.append((title, seconds))
    print(f"  ({seconds:.1f} s" + (f"; {hidden} TensorFlow log line(s) not shown" if hidden else "") + ")",
          flush=True)
    return "".join(lines)


def start_server(base: str) -> tuple[subprocess.Popen, str]:
    """``tfrec serve`` on a free loopback port; returns the process and its address once it listens."""
    print(f"\n== serve\n$ tfrec serve --base {base} --port 0 --poll-seconds 1 &", flush=True)
    started = time.monotonic()
    server = subprocess.Popen([TFREC, "serve", "--base", base, "--port", "0", "--poll-seconds", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:
        print(f"  {line}", end="", flush=True)
        found = re.search(r"listening on (\S+):(\d+)", line)
        if found:
            timings.append(("serve (start-up)", time.monotonic() - started))
            return server, f"{found.group(1)}:{found.group(2)}"
    raise SystemExit(f"demo: tfrec serve exited (status {server.wait()}) before listening")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"\n== server stopped (exit status {server.returncode})", flush=True)


def newest_version(address: str, model: str = "retrieval") -> int:
    from tfrec.serving.client import ServingClient

    with ServingClient(address) as client:
        return max((s.version for s in client.model_status(model) if s.state == "AVAILABLE"), default=0)


def wait_for_version(address: str, version: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while newest_version(address) < version:
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: the server did not load retrieval version {version} in {timeout_s:.0f} s")
        time.sleep(0.5)


def new_item_like(run: str, user: str, address: str, folder: str) -> str:
    """A CSV of one new item whose content (text, image, category) is that of the user's best retrieved
    item, under a new id and title: an item the model never saw, findable only by its content."""
    from tfrec.serving.client import ServingClient

    with ServingClient(address) as client:
        best = client.retrieve([user], 1)[0]["item_ids"][0][0]
    best = best.decode() if isinstance(best, bytes) else str(best)
    items = pd.read_parquet(os.path.join(run, "data", "dataset", "items.parquet"))
    row = items[items.item_id == best].iloc[0].copy()
    row["item_id"] = NEW_ITEM
    row["title"] = f"New arrival: {row['title']}"
    image = row["image_path"]
    row["image_path"] = image if os.path.isabs(image) else os.path.abspath(image)
    path = os.path.join(folder, "new_items.csv")
    pd.DataFrame([row]).to_csv(path, index=False)  # the run's item columns: id, title, text, image, categories
    print(f"  {path}: {NEW_ITEM} has the text, image and category of {best} ({row['title']!r})", flush=True)
    return path


def rank_of(address: str, user: str, item: str, k: int = 100) -> int | None:
    from tfrec.serving.client import ServingClient

    with ServingClient(address) as client:
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in client.retrieve([user], k)[0]["item_ids"][0]]
    return ids.index(item) + 1 if item in ids else None


def main() -> int:
    from tfrec.cli import _tensorflow_quietly

    _tensorflow_quietly()  # this process talks to the server with TensorFlow's protos
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # unwind: the server is stopped
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="saved_models", help="TF Serving model base path to export into")
    parser.add_argument("--runs", default="runs", help="folder of the run folders")
    parser.add_argument("--user", default="u1")
    args = parser.parse_args()
    retrieval, ranking = os.path.join(args.runs, "demo-retrieval"), os.path.join(args.runs, "demo-ranking")
    started = time.monotonic()
    step("train retrieval (sequential, MiniLM text + EfficientNet-Lite0 images)", "train", "--config",
         os.path.join(CONFIGS, "demo_retrieval.yaml"), "--run", retrieval, "--overwrite")
    step("evaluate retrieval (full ranking, test users)", "evaluate", "--run", retrieval)
    step("train the ranker over the top 100 retrieved", "train-ranking", "--config",
         os.path.join(CONFIGS, "demo_ranking.yaml"), "--run", ranking, "--overwrite",
         "--set", f"candidates.retrieval_run={retrieval}")
    step("export retrieval and candidate encoder", "export", "--run", retrieval, "--base", args.base)
    step("export ranking", "export-ranking", "--run", ranking, "--base", args.base)
    server, address = start_server(args.base)
    try:
        step(f"two-stage recommendation for {args.user} over gRPC", "recommend", "--server", address,
             "--user", args.user, "--k", "10", "--two-stage", "--candidates", "100")
        csv = new_item_like(retrieval, args.user, address, args.runs)
        before = newest_version(address)
        step("add a cold item to the served index (no retraining)", "index", "add", "--run", retrieval,
             "--items", csv, "--base", args.base)
        wait_for_version(address, before + 1)
        rank = rank_of(address, args.user, NEW_ITEM)
        print(f"  the server now answers with retrieval version {before + 1}; {NEW_ITEM} is retrieved for "
              f"{args.user} at #{rank} of 100" if rank else f"  {NEW_ITEM} is not in {args.user}'s top 100",
              flush=True)
        if rank:
            step(f"retrieval for {args.user}: the new item among the top {rank}", "recommend", "--server", address,
                 "--user", args.user, "--k", str(rank))
    finally:
        stop_server(server)
    print("\n== time per step")
    for title, seconds in timings:
        print(f"  {seconds:6.1f} s  {title}")
    print(f"  {time.monotonic() - started:6.1f} s  in all")
    print(f"\nTensorBoard: {os.path.join(BIN, 'tfrec')} tensorboard --run {retrieval}   (http://127.0.0.1:6006)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
