"""Hand-written autograd functions for training in eager fp32 on CPU.

CPU has no fused kernels for RMSNorm, SwiGLU, the RoPE + q/k/v split or the cross-entropy: each composite op is
a full pass over the activations plus fresh memory (page faults). These functions do the same maths in fewer
passes and without temporaries.

They reach the model by module swap, so `training.model` keeps one forward path: `use_cpu_kernels(model)` replaces
its RMSNorm, Attention and SwiGLU modules by the subclasses below, which keep the same parameters (same names,
same tensors) and fall back to the plain forward wherever `eager_cpu_fp32` does not hold (autocast, compile,
a KV cache). The fused cross-entropy is picked by `training.objectives.base.token_losses` on the same test.
`tests/training/test_model.py` checks both paths give the same loss and gradients.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from training.model import GPT, Attention, RMSNorm, SwiGLU

IGNORE_INDEX = -100


def eager_cpu_fp32(x: torch.Tensor) -> bool:
    """Where the hand-written autograd functions below pay: CPU eager fp32 (CUDA has fused kernels, compile fuses)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.compiler.is_compiling()
        and not torch.is_autocast_enabled("cpu")
    )


class RMSNormFn(torch.autograd.Function):
    """RMSNorm with a hand-derived backward.

    On CPU `F.rms_norm` has no fused kernel: it runs as ~6 elementwise ops forward and ~12 through autograd
    backward, each a full pass over the activations. This is 3 passes forward and 4 (plus two matrix-vector
    products) backward. With r = rsqrt(mean(x^2) + eps) and u = dy * x:
        dw = sum_rows(u * r),  dx = r * (dy * w) - x * r^3 * mean(u * w).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        d = x.shape[-1]
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(d).add_(eps).rsqrt_()
        ctx.save_for_backward(x, weight, rstd)
        return (x * rstd).mul_(weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        d = x.shape[-1]
        u = (dy * x).reshape(-1, d)
        r = rstd.reshape(-1)
        dw = u.t().mv(r) if ctx.needs_input_grad[1] else None
        k = u.mv(weight).mul_(r * r * r).div_(d).view_as(rstd)
        dx = (dy * weight).mul_(rstd).addcmul_(x, k, value=-1)
        return dx, dw, None


class RopeSplitFn(torch.autograd.Function):
    """q, k, v as (B, H, T, D) views of the fused projection (B, T, (Hq + 2 Hk) * D), q and k rotated in place.

    Rotating in place (the projection's output is not needed by its own backward) keeps no second copy of q and k;
    in backward the three gradients are rotated back or copied straight into one buffer shaped like the projection,
    where autograd would `torch.cat` twice (the q/k split and the qk/v split). Returns the projection too, because
    an input changed in place must be an output; callers ignore it.
    """

    @staticmethod
    def forward(ctx, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_head: int, n_kv_head: int):
        B, T, _ = qkv.shape
        n_qk = n_head + n_kv_head
        heads = qkv.view(B, T, n_qk + n_kv_head, -1)
        ctx.n_head, ctx.n_qk = n_head, n_qk
        ctx.save_for_backward(cos, sin)
        torch.view_as_complex(heads[:, :, :n_qk].unflatten(-1, (-1, 2))).mul_(torch.complex(cos, sin))
        ctx.mark_dirty(qkv)
        q, k, v = heads.split([n_head, n_kv_head, n_kv_head], dim=2)
        return qkv, q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, _unused, dq: Optional[torch.Tensor], dk: Optional[torch.Tensor], dv: Optional[torch.Tensor]):
        cos, sin = ctx.saved_tensors
        n_head, n_qk = ctx.n_head, ctx.n_qk
        ref = next(g for g in (dq, dk, dv) if g is not None)
        B, _, T, D = ref.shape
        n_kv = n_qk - n_head
        dheads = torch.empty(B, T, n_qk + n_kv, D, dtype=ref.dtype, device=ref.device)
        d_rot = torch.view_as_complex(dheads[:, :, :n_qk].unflatten(-1, (-1, 2)))
        back = torch.complex(cos, -sin)  # the inverse rotation
        for g, heads in ((dq, slice(0, n_head)), (dk, slice(n_head, n_qk))):
            if g is None:
                d_rot[:, :, heads].zero_()
                continue
            g = g.transpose(1, 2)
            if g.stride(-1) != 1 or any(st % 2 for st in g.stride()[:-1]):
                g = g.contiguous()
            torch.mul(torch.view_as_complex(g.unflatten(-1, (-1, 2))), back, out=d_rot[:, :, heads])
        if dv is None:
            dheads[:, :, n_qk:].zero_()
        else:
            dheads[:, :, n_qk:].copy_(dv.transpose(1, 2))
        return dheads.view(B, T, -1), None, None, None, None


class SwiGLUFn(torch.autograd.Function):
    """silu(gate) * up on the fused projection h = [gate | up].

    Only h is kept for backward (silu is recomputed there: one cheap pass), so the block holds as many activations
    as a GELU MLP of the same size; autograd would also keep silu(gate) alive, and fresh memory costs page faults
    on CPU. The gradient is written straight into one (..., 2H) buffer, where autograd would `torch.cat` halves.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        gate, up = h.chunk(2, dim=-1)
        ctx.save_for_backward(h)
        return F.silu(gate).mul_(up)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: torch.Tensor):
        (h,) = ctx.saved_tensors
        gate, up = h.chunk(2, dim=-1)
        dh = torch.empty_like(h, memory_format=torch.contiguous_format)
        d_gate, d_up = dh.chunk(2, dim=-1)  # both halves computed in place: no temporaries
        torch.ops.aten.silu.out(gate, out=d_up).mul_(dy)
        torch.mul(dy, up, out=d_gate)
        torch.ops.aten.silu_backward.grad_input(d_gate, gate, grad_input=d_gate)
        return dh


class CrossEntropyFn(torch.autograd.Function):
    """Per-row cross-entropy (N,) from (N, V) logits, 0 where the target is IGNORE_INDEX: `F.cross_entropy`'s
    values with reduction="none".

    The logits are overwritten in place with exp(logit - row max) in forward, and turned into the gradient
    (softmax - onehot, scaled by each row's incoming gradient) in place in backward: one pass over them in
    backward and no (N, V) temporaries. Autograd's path writes (N, V) log-probabilities, a zero-filled (N, V)
    gradient and a softmax gradient. Returns (losses, the overwritten logits): an input changed in place must be
    an output; callers ignore it. Backward may run only once.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor):
        valid = targets != IGNORE_INDEX
        safe = torch.where(valid, targets, 0)
        picked = logits.gather(1, safe[:, None]).squeeze(1)
        row_max = logits.amax(dim=-1, keepdim=True)
        exps = logits.sub_(row_max).exp_()
        sums = exps.sum(dim=-1)
        lse = row_max.squeeze(1) + sums.log()
        losses = (lse - picked) * valid
        ctx.mark_dirty(logits)
        ctx.save_for_backward(exps, sums, safe, valid)
        ctx.spent = False
        return losses, logits

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor, _unused):
        if ctx.spent:
            raise RuntimeError("the fused cross-entropy's backward reuses its logits and can run only once")
        ctx.spent = True
        exps, sums, safe, valid = ctx.saved_tensors
        scale = grad * valid  # ignored rows get no gradient
        dlogits = exps.mul_((scale / sums)[:, None].to(exps.dtype))  # scale * softmax, in the logits' own memory
        dlogits.scatter_add_(1, safe[:, None], -scale[:, None].to(exps.dtype))
        return dlogits, None


# --- the module swap ------------------------------------------------------------------------------------------
class CpuRMSNorm(RMSNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if eager_cpu_fp32(x) and self.weight.dtype == torch.float32:
            return RMSNormFn.apply(x, self.weight, self.eps)
        return super().forward(x)


class CpuSwiGLU(SwiGLU):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.w_gate_up(x)
        if eager_cpu_fp32(h):
            return self.w_down(SwiGLUFn.apply(h))
        gate, up = h.chunk(2, dim=-1)
        return self.w_down(F.silu(gate) * up)


class CpuAttention(Attention):
    """Rotation and the q/k/v split in one autograd function."""

    def project(self, qkv: torch.Tensor, cos, sin):
        if not eager_cpu_fp32(qkv):
            return super().project(qkv, cos, sin)
        _, q, k, v = RopeSplitFn.apply(qkv, cos, sin, self.n_head, self.n_kv_head)
        return q, k, v


SWAPS = {RMSNorm: CpuRMSNorm, Attention: CpuAttention, SwiGLU: CpuSwiGLU}


def use_cpu_kernels(model: GPT) -> GPT:
    """Swap the model's modules for their CPU-kernel subclasses, in place; parameters and names are untouched."""
    for module in model.modules():
        swap = SWAPS.get(type(module))
        if swap is not None:
            module.__class__ = swap  # a subclass with no state of its own: same parameters, same state_dict
    return model
