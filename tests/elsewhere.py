"""A second device for machines that have only a CPU: tensors "elsewhere" behave as if they
lived on a GPU, so code that builds a tensor on the wrong device fails here as it would there.

Inside ``Elsewhere()`` (a torch function mode), a tensor is *elsewhere* when it is one of the
model's parameters or buffers (``put_model``), was moved there (``.to(ELSEWHERE)``, or any
``device=ELSEWHERE``, where ``ELSEWHERE`` is what such a tensor reports as its ``.device``),
or was computed from one. The data stays on the CPU; a side table tracks where each tensor
"is". The mode raises ``DeviceMismatch`` where CUDA would raise:

* an op mixing elsewhere tensors with CPU tensors of one element or more (0-d CPU tensors
  mix freely, as with CUDA; so do CPU index tensors in ``t[index]``);
* ``.numpy()`` or ``np.asarray`` of an elsewhere tensor (CUDA needs ``.cpu()`` first).

``.cpu()`` and ``.to("cpu")`` bring a tensor back. Tensors inside ``torch.func`` transforms are
wrappers this table cannot see; ops on them are not checked.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakTensorKeyDictionary

ELSEWHERE = torch.device("meta")  # the device an elsewhere tensor reports
_CPU = torch.device("cpu")
_is_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


class DeviceMismatch(AssertionError):
    """An op that would fail on a real second device."""


def _tensors(value, found: list) -> list:
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensors(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _tensors(item, found)
    return found


def _device_of(value) -> torch.device | None:
    if isinstance(value, torch.device):
        return value
    if isinstance(value, str):
        try:
            return torch.device(value)
        except RuntimeError:
            return None
    return None


def _replace_elsewhere(value):
    """``value`` with ELSEWHERE devices replaced by the CPU, and whether there was one."""
    device = _device_of(value)
    if device is not None and device.type == ELSEWHERE.type:
        return _CPU, True
    return value, False


def _getter_of(func, descriptor) -> bool:
    return getattr(func, "__self__", None) is descriptor


class Elsewhere(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self._elsewhere = WeakTensorKeyDictionary()
        self.checked_ops = 0

    def put_model(self, model: torch.nn.Module) -> torch.nn.Module:
        for tensor in [*model.parameters(), *model.buffers()]:
            self._elsewhere[tensor] = True
        return model

    def is_elsewhere(self, tensor: torch.Tensor) -> bool:
        return tensor in self._elsewhere

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if _getter_of(func, torch.Tensor.device):
            return ELSEWHERE if self.is_elsewhere(args[0]) else func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        if func in (torch.Tensor.numpy, torch.Tensor.__array__) and self.is_elsewhere(args[0]):
            raise DeviceMismatch(f"{name} of a tensor on another device: call .cpu() first")
        args, moved, devices = self._on_the_cpu(list(args), kwargs)
        if func in (torch.Tensor.to, torch.Tensor.cpu):  # a move: nothing to mix
            target = next((v for v in args[1:] if isinstance(v, torch.Tensor)), None)
            if moved or (target is not None and self.is_elsewhere(target)):
                there = True
            else:
                there = not devices and func is torch.Tensor.to and self.is_elsewhere(args[0])
        else:
            inputs = _tensors([args, kwargs], [])
            if func is torch.Tensor.__getitem__ and self.is_elsewhere(args[0]):
                inputs = [args[0]]  # CPU index tensors index a GPU tensor
            if func is torch.Tensor.__setitem__:
                inputs = _tensors([args[0], args[2]], [])
            self._check(name, inputs)
            there = moved or any(self.is_elsewhere(t) for t in inputs)
        result = func(*args, **kwargs)
        if args and result is args[0] and there != self.is_elsewhere(args[0]):
            result = result.view_as(result)  # a move makes a new tensor, not the original
        if there:
            for tensor in _tensors(result, []):
                self._elsewhere[tensor] = True
        return result

    def _on_the_cpu(self, args: list, kwargs: dict) -> tuple[list, bool, list]:
        """The arguments with ELSEWHERE replaced by the CPU (kwargs in place), whether one
        was, and the devices named."""
        moved, devices = False, []
        for i, value in enumerate(args):
            devices.append(_device_of(value))
            args[i], hit = _replace_elsewhere(value)
            moved |= hit
        if "device" in kwargs:
            devices.append(_device_of(kwargs["device"]))
            kwargs["device"], hit = _replace_elsewhere(kwargs["device"])
            moved |= hit
        return args, moved, [d for d in devices if d is not None]

    def _check(self, name: str, inputs: list[torch.Tensor]) -> None:
        if any(_is_wrapped(t) for t in inputs):
            return
        here = [t for t in inputs if self.is_elsewhere(t)]
        cpu = [tuple(t.shape) for t in inputs if not self.is_elsewhere(t) and t.dim() > 0]
        if here and cpu:
            raise DeviceMismatch(
                f"{name} mixes tensors on the model's device with CPU tensors of shapes {cpu}"
            )
        self.checked_ops += 1
