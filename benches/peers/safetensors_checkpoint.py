"""safetensors' side of the checkpoint benchmark, run in the bench environment's Python.

Usage: python safetensors_checkpoint.py FOLDER ARRAYS ELEMENTS ROUNDS. Builds the same float32
arrays as the aidot side (seeded), then per round saves them with safetensors' NumPy API and
fsyncs the file (durable, as aidot's save is), and loads them back. Prints one JSON line with the
median times.
"""

import json
import os
import statistics
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file

folder, arrays, elements, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
state = {
    f"layer{i}": np.random.default_rng(i).random(elements, dtype=np.float32) for i in range(arrays)
}
saves, loads = [], []
for r in range(rounds):
    path = os.path.join(folder, f"model{r}.safetensors")
    start = time.perf_counter()
    save_file(state, path)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    saves.append(time.perf_counter() - start)
    start = time.perf_counter()
    loaded = load_file(path)
    loads.append(time.perf_counter() - start)
    assert loaded["layer0"][7] == state["layer0"][7]
    os.remove(path)
print(json.dumps({"save_s": statistics.median(saves), "load_s": statistics.median(loads)}))
