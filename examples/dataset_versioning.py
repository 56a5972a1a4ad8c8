"""Version a dataset folder, change it, see the difference, and check out the old version.

python examples/dataset_versioning.py
"""

import tempfile
from pathlib import Path

import aidot

ws = aidot.default_workspace()
folder = Path(tempfile.mkdtemp()) / "reviews"
folder.mkdir()
for i in range(100):
    (folder / f"part-{i:03d}.csv").write_text(f"id,stars\n{i},{i % 5 + 1}\n")

v1 = ws.data.add(folder, "reviews", "first export")
(folder / "part-000.csv").write_text("id,stars\n0,5\n")  # a fix
(folder / "part-100.csv").write_text("id,stars\n100,4\n")  # new rows
(folder / "part-099.csv").unlink()  # dropped
v2 = ws.data.add(folder, "reviews", "fixed row 0, new part")
print(f"{v1.ref}: {v1.file_count} files; {v2.ref}: {v2.file_count} files")
print(f"adding {v2.ref} stored {v2.bytes_written} new bytes")

changes = ws.data.diff(v1.ref, v2.ref)
print(f"added {changes.added}, modified {changes.modified}, deleted {changes.deleted}")

old = Path(tempfile.mkdtemp()) / "reviews-v1"
ws.data.get(v1.ref).checkout(old)
print(f"checked out {v1.ref} to {old}: part-099.csv is back: {(old / 'part-099.csv').exists()}")
print(f"verified {ws.data.verify(v2.ref)} files of {v2.ref}")
