"""Data version control: datasets as versions of files and folders in the blob store."""

from aidot.data._dvc import Changes, DatasetVersion, DataVersionControl
from aidot.data._manifest import FileEntry
from aidot.data._pointer import read_pointer
from aidot.data._remotes import RemoteConfig, Remotes, TransferReport

__all__ = [
    "Changes",
    "DataVersionControl",
    "DatasetVersion",
    "FileEntry",
    "RemoteConfig",
    "Remotes",
    "TransferReport",
    "read_pointer",
]
