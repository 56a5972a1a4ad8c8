"""PyTorch models, saved without pickle in one of three ways:

- a plain ``nn.Module`` is exported with ``torch.export`` (a ``.pt2`` archive: the graph as
  JSON, the weights as raw tensors) on the input example, with a dynamic batch dimension;
- a ``torch.jit.ScriptModule`` stays TorchScript (deprecated by PyTorch since 2.10 in favour of
  ``torch.export``, still loaded for the models that exist);
- a :class:`TorchModel` is its state_dict in safetensors plus an importable factory, for modules
  that cannot be exported.

torch (and safetensors, for state_dicts) are imported only when a PyTorch model is saved or
loaded: ``pip install 'aidot[torch]'``.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aidot.errors import InvalidArgumentError, UnsupportedModelError

SCRIPT_FILE = "model.torchscript.pt"
EXPORT_FILE = "model.pt2"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "torch.json"


@dataclass
class TorchModel:
    """A PyTorch module saved as its weights (a state_dict, in safetensors) plus the recipe to
    rebuild it: ``factory`` is ``"package.module:name"``, a class or function that
    ``factory(**kwargs)`` returns the module, importable wherever the model is loaded.

    Use it for modules TorchScript cannot compile; plain ``nn.Module`` objects are saved as
    TorchScript.
    """

    module: Any
    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable arguments of ``factory``."""

    def predict(self, batch: Any) -> Any:
        return TorchPredictor(self.module).predict(batch)


class TorchPredictor:
    """A module behind ``predict(batch)``: NumPy in, NumPy out, in eval and inference mode on
    the CPU."""

    def __init__(self, module: Any, *, exported: bool = False) -> None:
        self.module = module
        if not exported:  # an exported graph is always in inference form (and has no eval())
            module.eval()

    def predict(self, batch: Any) -> Any:
        import numpy as np
        import torch

        array = np.ascontiguousarray(batch)
        if not array.flags.writeable:  # torch tensors share the memory and may write to it
            array = array.copy()
        inputs = torch.from_numpy(array)
        with torch.inference_mode():
            output = self.module(inputs)
        return output.detach().cpu().numpy()


def _torch_loaded() -> Any:
    """``torch`` if this process has imported it (a model can only be a module if so)."""
    return sys.modules.get("torch")


class TorchFormat:
    """``nn.Module`` objects exported with ``torch.export``, ``torch.jit.ScriptModule`` as
    TorchScript, :class:`TorchModel` as safetensors weights plus its factory."""

    name = "torch"

    def accepts(self, model: Any) -> bool:
        if isinstance(model, TorchModel):
            return True
        torch = _torch_loaded()
        return torch is not None and isinstance(model, torch.nn.Module)

    def save(self, model: Any, folder: Path, example: Any = None) -> dict[str, Any]:
        import torch

        if isinstance(model, TorchModel):
            return self._save_weights(model, folder)
        if isinstance(model, torch.jit.ScriptModule):
            with _quiet_torchscript():
                torch.jit.save(model, str(folder / SCRIPT_FILE))
            return {"mode": "torchscript", "libraries": _versions()}
        torch.export.save(_export(model, example), str(folder / EXPORT_FILE))
        return {"mode": "exported", "libraries": _versions()}

    def _save_weights(self, model: TorchModel, folder: Path) -> dict[str, Any]:
        from aidot.registry.formats import resolve_function

        save_file = _safetensors().save_file
        resolve_function(model.factory)  # fail now, not at load time elsewhere
        try:
            json.dumps(model.kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"TorchModel kwargs must be JSON-serialisable ({exc})"
            ) from None
        # safetensors refuses tensors that share memory; contiguous copies keep them apart.
        state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        (folder / META_FILE).write_text(
            json.dumps({"factory": model.factory, "kwargs": model.kwargs})
        )
        return {"mode": "state_dict", "libraries": _versions()}

    def load(self, folder: Path, details: dict[str, Any], *, trust: bool) -> Any:
        try:
            import torch
        except ImportError:
            raise UnsupportedModelError(
                "this is a PyTorch model and needs torch: pip install 'aidot[torch]'"
            ) from None
        mode = details.get("mode")
        if mode == "exported":
            program = torch.export.load(str(folder / EXPORT_FILE))
            return TorchPredictor(program.module(), exported=True)
        if mode == "state_dict":
            from aidot.registry.formats import resolve_function

            meta = json.loads((folder / META_FILE).read_text())
            module = resolve_function(meta["factory"])(**meta["kwargs"])
            state = _safetensors().load_file(str(folder / WEIGHTS_FILE))
            module.load_state_dict(state)
            return TorchPredictor(module)
        with _quiet_torchscript():
            # Through Any: torch.jit.load is untyped, and an ignore comment would be unused
            # (an error under strict mypy) on machines without torch.
            jit_load: Any = torch.jit.load
            scripted = jit_load(str(folder / SCRIPT_FILE), map_location="cpu")
            return TorchPredictor(scripted)


def _export(module: Any, example: Any) -> Any:
    """The ``torch.export`` program of ``module`` on the example batch, its first dimension
    left free so any batch size runs."""
    import numpy as np
    import torch

    if example is None:
        raise UnsupportedModelError(
            f"exporting a PyTorch {type(module).__name__} needs input_example= (a small batch); "
            "or wrap it in aidot.registry.TorchModel (weights plus an importable factory)"
        )
    batch = np.asarray(example)
    if len(batch) < 2:  # torch.export specialises a dimension of size 1 to a constant
        batch = np.concatenate([batch, batch])
    inputs = torch.from_numpy(np.ascontiguousarray(batch))
    try:
        return torch.export.export(
            module.eval(), (inputs,), dynamic_shapes=({0: torch.export.Dim("batch")},)
        )
    except Exception as exc:
        raise UnsupportedModelError(
            f"torch.export cannot export {type(module).__name__} ({type(exc).__name__}: "
            f"{str(exc)[:300]}); wrap it in aidot.registry.TorchModel (weights plus an "
            "importable factory)"
        ) from None


@contextmanager
def _quiet_torchscript() -> Iterator[None]:
    """TorchScript calls without PyTorch's deprecation warning: the format is still read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated")
        yield


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError:
        raise UnsupportedModelError(
            "PyTorch state_dicts are saved with safetensors: pip install 'aidot[torch]'"
        ) from None
    return safetensors.torch


def _versions() -> dict[str, str]:
    from aidot.registry.formats import _versions as versions

    return versions("torch", "safetensors", "numpy")
