"""Serve the Production model over HTTP, then promote a new version while clients keep
sending requests: the server follows the stage and swaps it in without failing a request.

    python examples/serving_hot_swap.py      # needs scikit-learn and skops
"""

import json
import threading
import time
import urllib.request

import numpy as np
from sklearn.linear_model import LinearRegression

import aidot

ws = aidot.default_workspace()
x = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)


def register(scale: float) -> int:
    model = LinearRegression().fit(x, scale * x.sum(axis=1))
    version = ws.registry.create_model_version("scorer", model=model, input_example=x[:2])
    ws.registry.transition_stage("scorer", version.version, "Production", archive_existing=True)
    return version.version


register(1.0)
ws.repository.load("scorer", "models:/scorer@Production", follow="Production")
answers, failures = [], []
stop = threading.Event()


def client(url: str) -> None:
    body = json.dumps({"features": [[1.0, 1.0, 1.0]]}).encode()
    while not stop.is_set():
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                answers.append(round(json.load(reply)["predictions"][0][0], 3))
        except OSError as exc:
            failures.append(exc)


with aidot.serve(ws.repository) as server:
    url = f"{server.url}/api/inference/predict/scorer"
    threads = [threading.Thread(target=client, args=(url,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    print(f"serving v{ws.repository.info('scorer').version}; answer {answers[-1]}")
    register(2.0)  # a better model reaches Production while requests keep coming
    deadline = time.monotonic() + 30
    while ws.repository.info("scorer").version != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
print(f"now serving v{ws.repository.info('scorer').version}; answer {answers[-1]}")
print(f"{len(answers)} requests answered during the swap, {len(failures)} failed")
ws.repository.close()
