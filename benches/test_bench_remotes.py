"""Data remotes: pushing a 50,000-file dataset to an S3-protocol server, then the next version
after rewriting 1% of the files; the second push must cost in proportion to what changed.

Needs an S3-protocol server: $AIDOT_TEST_S3_ENDPOINT (e.g. `moto_server -p 5000`), as the tests.
Baselines: the first push itself (what a tool that re-sends everything would pay), and
boto3 uploading 1,000 of the same files with 16 threads to the same server (objects per second;
moto, a Python server, is slower than AWS or MinIO, so rates are the server's as much as ours).
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from aidot import Workspace

from .conftest import Comparison, record
from .test_bench_blobs import FILES, write_small_files


def test_push_costs_what_changed(bench_dir: Path) -> None:
    endpoint = os.environ.get("AIDOT_TEST_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("set AIDOT_TEST_S3_ENDPOINT to an S3-protocol server (moto_server)")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"))
    options = {
        "aws_endpoint": endpoint,
        "aws_allow_http": "true",
        "aws_region": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    data = bench_dir / "data"
    paths = write_small_files(data, FILES)
    ws = Workspace(bench_dir / "ws").init()
    ws.data.remotes.add("s3", f"s3://{bucket}/aidot", options)
    ws.data.add(data, "small")

    start = time.perf_counter()
    first = ws.data.push("small", "s3")
    first_s = time.perf_counter() - start
    for path in paths[:: max(1, len(paths) // (FILES // 100))][: FILES // 100]:
        path.write_bytes(os.urandom(4096))
    ws.data.add(data, "small")
    start = time.perf_counter()
    second = ws.data.push("small", "s3")
    second_s = time.perf_counter() - start

    other = Workspace(bench_dir / "other").init()
    other.data.remotes.add("s3", f"s3://{bucket}/aidot", options)
    start = time.perf_counter()
    other.data.pull("small@v1", "s3")
    pull_s = time.perf_counter() - start
    start = time.perf_counter()
    other.data.pull("small@v2", "s3")
    pull_again_s = time.perf_counter() - start
    print(
        f"\nfirst push {first.objects:,} objects in {first_s:.2f} s; after 1% changed "
        f"{second.objects:,} objects in {second_s:.2f} s; pull {pull_s:.2f} s, "
        f"next version {pull_again_s:.2f} s"
    )
    record(
        Comparison(
            f"push after 1% of {FILES:,} files changed",
            second_s,
            "first push of everything",
            first_s,
            "~1% of the first push",
            note=f"({second.objects:,} of {first.objects:,} objects)",
        )
    )
    record(
        Comparison(
            "pull the next version",
            pull_again_s,
            "first pull",
            pull_s,
            "in proportion to the change",
        )
    )
    boto3_rate = _boto3_objects_per_second(endpoint, bucket, paths[:1000])
    record(
        Comparison(
            "upload rate (time per object)",
            first_s / first.objects,
            "boto3, 16 threads",
            1 / boto3_rate,
            "(reference)",
            note=f"({first.objects / first_s:,.0f} vs {boto3_rate:,.0f} objects/s)",
        )
    )
    ws.close()
    other.close()


def _boto3_objects_per_second(endpoint: str, bucket: str, paths: list[Path]) -> float:
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    )
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: client.put_object(
                    Bucket=bucket, Key=f"boto3/{p.name}", Body=p.read_bytes()
                ),
                paths,
            )
        )
    return len(paths) / (time.perf_counter() - start)
