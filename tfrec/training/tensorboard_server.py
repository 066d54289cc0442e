"""``tfrec tensorboard --run RUN``: TensorBoard on a run's ``tensorboard/`` folder, bound to localhost.

Binding to 127.0.0.1 by default keeps the dashboard (which serves the
run's data and item titles) off the network; pass ``--host`` to share it.
"""

from __future__ import annotations

import os
import time

from tfrec.errors import RunError
from tfrec.run_folder import RunFolder


def launch(run_dir, host: str = "127.0.0.1", port: int = 6006) -> str:
    """Starts TensorBoard in a background thread; returns its URL (``port`` 0 picks a free one).

    It reads the run without its lock: watching a run while it trains is what it is for.
    """
    run = RunFolder(run_dir)
    logdir = run.tensorboard_dir
    if not os.path.isdir(logdir):
        raise RunError(f"{run.name} has no tensorboard/ folder (train the run first)")
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(logdir=logdir, host=host, port=port, reload_interval=5, load_fast="false")
    return board.launch()


def serve(run_dir: str, host: str = "127.0.0.1", port: int = 6006) -> None:
    """Runs TensorBoard until interrupted, after printing its URL."""
    url = launch(run_dir, host, port)
    print(f"TensorBoard at {url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
