"""The hook core: TransformerLens semantics, no leaks, gradients through hooks."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Callable
from functools import partial

import pytest
import torch
from torch import nn

from hooked_impala import ActivationCache, HookedRootModule, HookNameError, HookPoint
from hooked_impala.runtime import SYSTEM_MALLOC_ENV

RESADD = "embedder.block2.res1.resadd_out"


def attached(model: HookedRootModule) -> int:
    return sum(len(p.fwd_hooks) + len(p.bwd_hooks) for p in model.hook_dict.values())


class TwoLayer(HookedRootModule):
    """y = w2 · relu(w1 · x): small enough to check every number by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(2, 2, bias=False)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()
        self.lin2 = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.lin1.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
            self.lin2.weight.copy_(torch.tensor([[3.0, -2.0]]))
        self.setup()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.hook_post(torch.relu(self.hook_pre(self.lin1(x)))))


def test_hook_core_knows_no_architecture_and_caches_by_name() -> None:
    model = TwoLayer()
    assert list(model.hook_dict) == ["hook_pre", "hook_post"]
    out, cache = model.run_with_cache(torch.tensor([[1.0, 1.0]]))
    assert torch.equal(cache["hook_pre"], torch.tensor([[3.0, 0.0]]))
    assert torch.equal(cache["hook_post"], torch.tensor([[3.0, 0.0]]))
    assert out.item() == 9.0


def test_tl_style_snippet_runs_unchanged(tiny_model, procgen_obs) -> None:
    # Written as a TransformerLens user would write it against HookedTransformer.
    model = tiny_model
    tokens = torch.from_numpy(procgen_obs)

    def zero_channel_hook(activation, hook, channel):
        activation[:, channel] = 0.0
        return activation

    logits_clean, cache = model.run_with_cache(tokens)
    logits_ablated = model.run_with_hooks(
        tokens, fwd_hooks=[(RESADD, partial(zero_channel_hook, channel=5))]
    )
    _, ablated_cache = model.run_with_cache(tokens, names_filter=lambda name: "resadd" in name)
    model.add_hook(RESADD, partial(zero_channel_hook, channel=5))
    logits_permanent = model(tokens)
    model.reset_hooks()

    assert isinstance(cache, ActivationCache) and RESADD in model.hook_dict
    assert cache[RESADD].shape == (8, 32, 16, 16)
    assert not torch.allclose(logits_clean.logits, logits_ablated.logits)
    assert torch.allclose(logits_ablated.logits, logits_permanent.logits)
    assert all("resadd" in name for name in ablated_cache)
    assert attached(model) == 0


def test_names_filter_forms(tiny_model) -> None:
    obs = torch.zeros(2, 3, 64, 64)
    everything = tiny_model.run_with_cache(obs)[1]
    assert set(everything) == set(tiny_model.hook_dict)
    one = tiny_model.run_with_cache(obs, names_filter=RESADD)[1]
    assert list(one) == [RESADD]
    two = tiny_model.run_with_cache(obs, names_filter=[RESADD, "input"])[1]
    assert set(two) == {RESADD, "input"}
    fn = tiny_model.run_with_cache(obs, names_filter=lambda n: n.startswith("fc_"))[1]
    assert set(fn) == {"fc_policy_out", "fc_value_out"}
    # Aliases resolve in filters and in the cache.
    aliased = tiny_model.run_with_cache(obs, names_filter=["logits"])[1]
    assert torch.equal(aliased["logits"], aliased["fc_policy_out"])


def test_cache_values_equal_the_forward(tiny_model) -> None:
    obs = torch.rand(3, 3, 64, 64)
    out, cache = tiny_model.run_with_cache(obs)
    assert torch.equal(cache["fc_policy_out"], out.logits)
    assert torch.equal(cache["fc_value_out"][:, 0], out.value)
    assert torch.equal(
        cache["embedder.block1.res1.relu1_out"], cache["embedder.block1.res1.relu1_in"].relu()
    )
    res1 = "embedder.block2.res1."
    assert torch.allclose(
        cache[res1 + "resadd_out"], cache[res1 + "conv2_out"] + cache["embedder.block2.maxpool_out"]
    )
    assert not cache["input"].requires_grad


def test_unknown_hook_names_are_named(tiny_model) -> None:
    with pytest.raises(
        HookNameError, match=r"embedder\.block2\.res1\.resad_out.*Closest.*resadd_out"
    ):
        tiny_model.run_with_hooks(
            torch.zeros(1, 3, 64, 64), fwd_hooks=[("embedder.block2.res1.resad_out", print)]
        )
    with pytest.raises(HookNameError, match="not in this cache"):
        tiny_model.run_with_cache(torch.zeros(1, 3, 64, 64), names_filter=RESADD)[1]["input"]
    with pytest.raises(HookNameError, match="unknown hook name 'nope'"):
        tiny_model.run_with_cache(torch.zeros(1, 3, 64, 64), names_filter=["nope"])
    assert attached(tiny_model) == 0


def test_hook_returning_wrong_shape_is_an_error(tiny_model) -> None:
    with pytest.raises(ValueError, match=r"on 'input' returned \(1, 3\)"):
        tiny_model.run_with_hooks(
            torch.zeros(1, 3, 64, 64), fwd_hooks=[("input", lambda a, hook: a[:, :, 0, 0])]
        )
    assert attached(tiny_model) == 0


def test_no_hook_leaks_after_exceptions(tiny_model) -> None:
    def boom(activation, hook):
        raise RuntimeError("inside a hook")

    with pytest.raises(RuntimeError, match="inside a hook"):
        tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64), fwd_hooks=[(RESADD, boom)])
    assert attached(tiny_model) == 0

    # An exception in the forward itself (a bad observation) while caching every hook.
    with pytest.raises(ValueError):
        tiny_model.run_with_cache(torch.zeros(1, 5, 64, 64))
    assert attached(tiny_model) == 0

    with pytest.raises(KeyError):
        with tiny_model.hooks(
            fwd_hooks=[(RESADD, lambda a, hook: None)], bwd_hooks=[(RESADD, lambda g, hook: None)]
        ):
            assert attached(tiny_model) == 2
            raise KeyError("user code")
    assert attached(tiny_model) == 0

    # A hook list that fails halfway through being attached leaves nothing either.
    with pytest.raises(HookNameError):
        with tiny_model.hooks(fwd_hooks=[(RESADD, print), ("missing", print)]):
            pass
    assert attached(tiny_model) == 0


def test_gradients_flow_through_hooks_and_bwd_hooks_see_them() -> None:
    model = TwoLayer()
    x = torch.tensor([[1.0, 1.0]], requires_grad=True)
    seen = {}

    def double(activation, hook):
        return activation * 2

    def record(grad, hook):
        seen[hook.name] = grad.clone()

    with model.hooks(fwd_hooks=[("hook_post", double)], bwd_hooks=[("hook_pre", record)]):
        y = model(x)
        y.backward()
    # pre = [3, 0]; relu' = [1, 0] (strict); post doubled: y = 2 * (3*3 - 2*0) = 18.
    assert y.item() == 18.0
    # dy/dpre = 2 * w2 * relu'(pre) = [6, 0]; dy/dx = [6, 0] @ w1 = [6, 12].
    assert torch.equal(seen["hook_pre"], torch.tensor([[6.0, 0.0]]))
    assert torch.equal(x.grad, torch.tensor([[6.0, 12.0]]))
    assert attached(model) == 0


def test_bwd_hook_can_replace_the_gradient() -> None:
    model = TwoLayer()
    x = torch.tensor([[1.0, 1.0]], requires_grad=True)
    with model.hooks(bwd_hooks=[("hook_pre", lambda g, hook: torch.ones_like(g))]):
        model(x).backward()
    assert torch.equal(x.grad, torch.tensor([[0.0, 3.0]]))  # [1, 1] @ w1


def test_removed_bwd_hook_does_not_fire_on_an_old_graph() -> None:
    model = TwoLayer()
    fired = []
    x = torch.tensor([[1.0, 1.0]], requires_grad=True)
    with model.hooks(bwd_hooks=[("hook_pre", lambda g, hook: fired.append(1))]):
        y = model(x)
    y.backward()
    assert fired == []


def test_run_with_cache_incl_bwd(tiny_model) -> None:
    obs = torch.rand(2, 3, 64, 64)
    out, cache = tiny_model.run_with_cache(
        obs,
        incl_bwd=True,
        backward_of=lambda o: o.value.sum(),
        names_filter=[RESADD, "fc_value_out"],
    )
    assert torch.equal(cache["fc_value_out_grad"], torch.ones(2, 1))
    assert cache[RESADD + "_grad"].shape == cache[RESADD].shape
    assert cache[RESADD + "_grad"].abs().sum() > 0
    with pytest.raises(ValueError, match="backward_of"):
        tiny_model.run_with_cache(obs, incl_bwd=True)
    assert attached(tiny_model) == 0


def test_run_with_hooks_refuses_bwd_hooks_it_would_remove_first(tiny_model) -> None:
    with pytest.raises(ValueError, match="bwd_hooks would be removed"):
        tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64), bwd_hooks=[(RESADD, print)])
    assert attached(tiny_model) == 0


def test_permanent_hooks_survive_reset(tiny_model) -> None:
    tiny_model.add_hook("input", lambda a, hook: torch.zeros_like(a), is_permanent=True)
    tiny_model.add_hook(RESADD, lambda a, hook: None)
    tiny_model.reset_hooks()
    assert attached(tiny_model) == 1
    out = tiny_model(torch.rand(1, 3, 64, 64))
    assert torch.allclose(out.logits, tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64)).logits)
    tiny_model.reset_hooks(including_permanent=True)
    assert attached(tiny_model) == 0


def test_cache_device_and_batch_dim(tiny_model) -> None:
    _, cache = tiny_model.run_with_cache(
        torch.zeros(1, 3, 64, 64), device="cpu", remove_batch_dim=True
    )
    assert cache[RESADD].shape == (32, 16, 16)
    _, cache = tiny_model.run_with_cache(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="batch size 1"):
        cache.remove_batch_dim()


def double(activation, hook):
    return activation * 2


def zero(grad, hook):
    return torch.zeros_like(grad)


def output_and_input_grad(model: TwoLayer, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_()
    out = model(x)
    out.sum().backward()
    return out.detach(), x.grad


def hooks_block(model: TwoLayer, x: torch.Tensor) -> None:
    with model.hooks([("hook_post", double)], [("hook_pre", zero)], reset_hooks_end=False):
        model(x)


# Every way of adding hooks that leaves them attached. The fwd/bwd hooks change the output or the
# gradient, so a leaked one shows in the numbers too.
KEEP = {"reset_hooks_end": False}
ADD_HOOKS: dict[str, Callable[[TwoLayer, torch.Tensor], object]] = {
    "add_hook": lambda m, x: m.add_hook("hook_pre", double),
    "add_hook_filter_bwd": lambda m, x: m.add_hook(lambda n: "hook" in n, zero, "bwd"),
    "hook_point_add_hook": lambda m, x: m.hook_dict["hook_post"].add_hook(double),
    "add_hook_permanent": lambda m, x: m.add_hook("hook_pre", double, is_permanent=True),
    "run_with_hooks": lambda m, x: m.run_with_hooks(x, fwd_hooks=[("hook_pre", double)], **KEEP),
    "run_with_hooks_bwd": lambda m, x: m.run_with_hooks(x, bwd_hooks=[("hook_pre", zero)], **KEEP),
    "hooks_context": hooks_block,
    "run_with_cache": lambda m, x: m.run_with_cache(x, **KEEP),
    "run_with_cache_incl_bwd": lambda m, x: m.run_with_cache(
        x, incl_bwd=True, backward_of=torch.sum, **KEEP
    ),
}


@pytest.mark.parametrize("way", ADD_HOOKS)
def test_reset_hooks_removes_hooks_however_added(way: str) -> None:
    model, fresh = TwoLayer(), TwoLayer()
    x = torch.tensor([[1.0, 1.0], [0.5, -2.0], [2.0, 0.25]])
    expected = output_and_input_grad(fresh, x)
    ADD_HOOKS[way](model, x)
    added = attached(model)
    assert added > 0
    model.reset_hooks()
    if way == "add_hook_permanent":  # survives a plain reset, and still acts
        assert attached(model) == added
        assert not torch.equal(output_and_input_grad(model, x)[0], expected[0])
        model.reset_hooks(including_permanent=True)
    assert attached(model) == 0
    out, grad = output_and_input_grad(model, x)
    assert torch.equal(out, expected[0]) and torch.equal(grad, expected[1])


def test_hooks_exit_removes_only_its_own_hooks() -> None:
    model = TwoLayer()
    model.add_hook("hook_pre", double)
    with model.hooks(fwd_hooks=[("hook_pre", double)]):
        with model.hooks(fwd_hooks=[("hook_pre", double)]):  # the same fn: a third handle
            assert attached(model) == 3
        assert attached(model) == 2
    assert attached(model) == 1
    with model.hooks(fwd_hooks=[("hook_post", double)]):
        model.reset_hooks()  # the block's exit then has nothing left to remove
    assert attached(model) == 0


# Prints whether the setting is recorded as applied, and whether glibc served a 64 MiB buffer
# (above its largest dynamic mmap threshold, 32 MiB) with mmap, as it does by default.
ALLOCATOR_PROBE = """
import ctypes, ctypes.util
import hooked_impala
from hooked_impala.runtime import allocator_tuned, keep_freed_memory

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"

class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(f, ctypes.c_size_t) for f in FIELDS.split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
before = libc.mallinfo2().hblks
buffer = libc.malloc(64 << 20)
print(allocator_tuned(), libc.mallinfo2().hblks > before, keep_freed_memory(), keep_freed_memory())
libc.free(ctypes.c_void_p(buffer))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator setting is glibc's")
@pytest.mark.parametrize(
    ("opt_out", "expected"), [(None, "True False True True"), ("1", "False True True True")]
)
def test_import_keeps_freed_memory_unless_opted_out(opt_out, expected) -> None:
    env = {k: v for k, v in os.environ.items() if k != SYSTEM_MALLOC_ENV}
    if opt_out:
        env[SYSTEM_MALLOC_ENV] = opt_out
    cmd = [sys.executable, "-c", ALLOCATOR_PROBE]
    probe = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split() == expected.split()


# --- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.int64])
def test_hook_returning_another_dtype_is_named_where_it_happens(tiny_model, dtype) -> None:
    # Was a dtype error deep inside the next conv, naming no hook.
    def to_dtype(activation, hook):
        return activation.to(dtype)

    with pytest.raises(ValueError) as err:
        tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64), fwd_hooks=[(RESADD, to_dtype)])
    message = str(err.value)
    assert f"'to_dtype' on '{RESADD}' returned (1, 32, 16, 16) {dtype}" in message
    assert "like its input: (1, 32, 16, 16) torch.float32 on cpu" in message
    assert attached(tiny_model) == 0


def test_hook_returning_a_tensor_on_another_device_is_named(tiny_model) -> None:
    def to_meta(activation, hook):
        return activation.to("meta")

    with pytest.raises(ValueError, match=r"'to_meta' on 'input' returned .* on meta; .* on cpu"):
        tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64), fwd_hooks=[("input", to_meta)])
    assert attached(tiny_model) == 0


def test_a_bare_name_fn_pair_instead_of_a_list_is_named(tiny_model, as_in_production) -> None:
    # Was "too many values to unpack (expected 2)".
    bare = ("input", double)
    for way in ("fwd", "bwd"):
        with pytest.raises(TypeError) as err, tiny_model.hooks(**{f"{way}_hooks": bare}):
            pass
        message = str(err.value)
        assert f"{way}_hooks must be a list of (name, fn) pairs" in message
        assert "[(name, fn)]" in message and "'input'" in message
    with pytest.raises(TypeError, match=r"fwd_hooks must be a list of \(name, fn\) pairs"):
        tiny_model.run_with_hooks(torch.zeros(1, 3, 64, 64), fwd_hooks=bare)
    assert attached(tiny_model) == 0


@pytest.mark.parametrize("names_filter", [5, [RESADD, 5], 2.5])
def test_names_filter_of_another_kind_is_named(tiny_model, names_filter, as_in_production) -> None:
    with pytest.raises(TypeError) as err:  # 5 was "'int' object is not iterable"
        tiny_model.run_with_cache(torch.zeros(1, 3, 64, 64), names_filter=names_filter)
    message = str(err.value)
    assert "names_filter must be None, a hook name, a list of hook names" in message
    assert f"got {names_filter!r}" in message
    assert attached(tiny_model) == 0


@pytest.mark.parametrize("batch", [-1, 0])
def test_hook_shapes_of_a_batch_below_one_is_named(tiny_model, batch) -> None:
    with pytest.raises(ValueError, match=f"batch must be a positive integer, got {batch}"):
        tiny_model.hook_shapes(batch=batch)
