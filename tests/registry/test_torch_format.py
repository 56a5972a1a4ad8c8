"""PyTorch models in the registry: modules exported with torch.export, TorchScript modules,
and state_dicts in safetensors with an importable factory; loaded back and served, no pickle
involved."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aidot import Workspace
from aidot.errors import InvalidArgumentError, UnsupportedModelError
from aidot.registry import TorchModel

FACTORY = "tests.registry.test_torch_format:make_mlp"


def make_mlp(inputs: int = 4, hidden: int = 8) -> Any:
    """The factory a TorchModel names: rebuilds the module without its weights."""
    import torch

    torch.manual_seed(1)  # different from the trained weights: loading must overwrite them
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
    )


def _fresh(torch: Any) -> Any:
    """A "trained" module: seeded differently from the factory's."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_a_module_is_exported_with_a_free_batch_dimension(workspace: Workspace, torch: Any) -> None:
    module = _fresh(torch)
    example = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    version = workspace.registry.create_model_version("net", model=module, input_example=example)
    assert version.source["format"] == "torch"
    assert version.source["format_details"]["mode"] == "exported"
    assert torch.__version__.startswith(version.source["format_details"]["libraries"]["torch"])
    assert version.signature["inputs"][0]["shape"] == [-1, 4]
    assert version.signature["outputs"][0]["shape"] == [-1, 2]
    served = workspace.registry.load_model(version.uri)
    for rows in (1, 7):
        batch = np.random.default_rng(rows).standard_normal((rows, 4)).astype(np.float32)
        expected = module(torch.from_numpy(batch)).detach().numpy()
        np.testing.assert_allclose(served.predict(batch), expected, rtol=1e-5, atol=1e-6)


def test_exporting_needs_an_example(workspace: Workspace, torch: Any) -> None:
    with pytest.raises(UnsupportedModelError, match="input_example"):
        workspace.registry.create_model_version("net", model=_fresh(torch))
    assert workspace.registry.list_models() == [] or all(
        m.latest_version is None for m in workspace.registry.list_models()
    )


def test_a_torchscript_module_stays_torchscript(workspace: Workspace, torch: Any) -> None:
    module = _fresh(torch)
    with pytest.warns(FutureWarning, match="torch.jit.script"):
        scripted = torch.jit.script(module)
    batch = np.ones((3, 4), dtype=np.float32)
    version = workspace.registry.create_model_version("net", model=scripted, input_example=batch)
    assert version.source["format_details"]["mode"] == "torchscript"
    expected = module(torch.from_numpy(batch)).detach().numpy()
    np.testing.assert_allclose(workspace.registry.load_model(version.uri).predict(batch), expected)


def test_a_state_dict_in_safetensors_with_its_factory(workspace: Workspace, torch: Any) -> None:
    module = _fresh(torch)
    batch = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    expected = module(torch.from_numpy(batch)).detach().numpy()
    version = workspace.registry.create_model_version(
        "net",
        model=TorchModel(module, FACTORY, {"inputs": 4, "hidden": 8}),
        input_example=batch,
    )
    assert version.source["format_details"]["mode"] == "state_dict"
    served = workspace.registry.load_model(version.uri)
    np.testing.assert_allclose(served.predict(batch), expected, rtol=1e-6)
    with pytest.raises(InvalidArgumentError, match="cannot import"):
        workspace.registry.create_model_version(
            "net", model=TorchModel(module, "tests.nowhere:build")
        )


def test_a_torch_model_is_served_over_http(workspace: Workspace, torch: Any) -> None:
    from aidot.serving import serve
    from tests.serving._http import predict

    module = _fresh(torch)
    batch = np.ones((2, 4), dtype=np.float32)
    version = workspace.registry.create_model_version("net", model=module, input_example=batch)
    workspace.repository.load("net", version.uri)
    with serve(workspace.repository) as server:
        reply = predict(server.url, "net", batch.tolist())
        assert reply.status == 200, reply.body
        expected = module(torch.from_numpy(batch)).detach().numpy()
        np.testing.assert_allclose(reply.json()["predictions"], expected, rtol=1e-5)
