"""Checkpoints of training state in the content-addressed blob store: each array a blob,
unchanged arrays stored once, the best and latest kept, restores memory-mapped."""

from aidot.checkpoints._index import CheckpointInfo
from aidot.checkpoints._manager import CheckpointManager, checkpoint_digests, restore_state

__all__ = ["CheckpointInfo", "CheckpointManager", "checkpoint_digests", "restore_state"]
