"""Every core error maps onto its aidot.errors class, which also fits Python's own families."""

from __future__ import annotations

import builtins

import pytest

from aidot import _core, errors

MAPPING = {
    "invalid_digest": errors.InvalidDigestError,
    "blob_not_found": errors.BlobNotFoundError,
    "corrupt": errors.IntegrityError,
    "not_a_file": errors.NotAFileError,
    "not_a_store": errors.NotAStoreError,
    "invalid_argument": errors.InvalidArgumentError,
    "cancelled": errors.CancelledError,
    "remote": errors.RemoteError,
    "io_not_found": errors.PathNotFoundError,
    "io_permission": errors.PathPermissionError,
    "io_is_a_directory": errors.NotAFileError,
    "io_other": errors.StorageError,
}


@pytest.mark.parametrize(("kind", "cls"), MAPPING.items())
def test_core_error_maps_to_class(kind: str, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        _core._raise_core_error(kind)
    assert type(info.value) is cls
    assert isinstance(info.value, errors.AidotError)
    assert str(info.value)


def test_classes_fit_the_builtin_families() -> None:
    assert issubclass(errors.PathNotFoundError, builtins.FileNotFoundError)
    assert issubclass(errors.PathPermissionError, builtins.PermissionError)
    assert issubclass(errors.StorageError, builtins.OSError)
    assert issubclass(errors.InvalidArgumentError, builtins.ValueError)
    assert issubclass(errors.NotFoundError, builtins.LookupError)


def test_every_exported_error_is_documented_in_the_tree() -> None:
    assert errors.__doc__ is not None
    for name in errors.__all__:
        assert name in errors.__doc__, name
