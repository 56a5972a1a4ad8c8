"""System metrics sampled in the background while a model trains.

Every ``interval`` seconds a daemon thread logs, to the run, what MLflow users know from its
system metrics: CPU and memory use of the machine and of the training process, disk and network
throughput, and, when NVIDIA's management library answers (``pip install 'aidot[gpu]'``),
utilisation and memory of each GPU. Metric names start with ``system/``; their step is the
sample number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("aidot.monitoring")
_MB = 1024 * 1024

LogMetrics = Callable[[dict[str, float], int], None]


class SystemMetricsSampler:
    """Samples psutil (and NVML when present) every ``interval`` seconds into ``log``."""

    def __init__(self, log: LogMetrics, interval: float = 10.0) -> None:
        import psutil

        self._log = log
        self._interval = interval
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._samples = 0
        self._gpus = _open_gpus()
        self._previous = self._counters()
        # cpu_percent() measures since its previous call: prime both now.
        psutil.cpu_percent(None)
        self._process.cpu_percent(None)
        self._thread = threading.Thread(target=self._loop, name="aidot-system", daemon=True)
        self._thread.start()

    @property
    def samples(self) -> int:
        """How many samples were logged."""
        return self._samples

    @property
    def gpu_count(self) -> int:
        return len(self._gpus)

    def stop(self) -> None:
        """Takes a last sample (so short runs get one) and stops the thread."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        try:
            self._log(self.read(), self._samples)
            self._samples += 1
        except Exception:  # a sampler must never take training down
            _log.debug("system metrics sample failed", exc_info=True)

    def read(self) -> dict[str, float]:
        """One sample: utilisation now, throughput since the previous sample."""
        import psutil

        memory = psutil.virtual_memory()
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            process_cpu = self._process.cpu_percent(None)
            threads = self._process.num_threads()
        metrics = {
            "system/cpu_utilization_percentage": psutil.cpu_percent(None),
            "system/system_memory_usage_megabytes": (memory.total - memory.available) / _MB,
            "system/system_memory_usage_percentage": memory.percent,
            "system/process_cpu_percentage": process_cpu,
            "system/process_memory_rss_megabytes": rss / _MB,
            "system/process_threads": float(threads),
        }
        now = self._counters()
        seconds = max(now["time"] - self._previous["time"], 1e-9)
        for name in ("disk_read", "disk_write", "network_receive", "network_transmit"):
            if name in now and name in self._previous:
                rate = (now[name] - self._previous[name]) / _MB / seconds
                metrics[f"system/{name}_megabytes_per_second"] = max(rate, 0.0)
        self._previous = now
        for index, handle in enumerate(self._gpus):
            metrics.update(_gpu_metrics(index, handle))
        return metrics

    def _counters(self) -> dict[str, float]:
        import psutil

        out = {"time": time.monotonic()}
        disk = psutil.disk_io_counters()
        if disk is not None:
            out["disk_read"] = float(disk.read_bytes)
            out["disk_write"] = float(disk.write_bytes)
        net = psutil.net_io_counters()
        if net is not None:
            out["network_receive"] = float(net.bytes_recv)
            out["network_transmit"] = float(net.bytes_sent)
        return out


def _open_gpus() -> list[Any]:
    """NVML handles of the machine's GPUs; none without the library or a driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no driver, no device: simply no GPU metrics
        return []


def _gpu_metrics(index: int, handle: Any) -> dict[str, float]:
    import pynvml

    utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    prefix = f"system/gpu_{index}"
    return {
        f"{prefix}_utilization_percentage": float(utilization.gpu),
        f"{prefix}_memory_usage_megabytes": memory.used / _MB,
        f"{prefix}_memory_usage_percentage": 100.0 * memory.used / memory.total,
    }
