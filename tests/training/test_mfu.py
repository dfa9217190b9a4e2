"""MFU against hand-computed values: the peak of the part actually present (names matched precisely) and of the
precision the matmuls run in (bf16, or TF32 for fp32 with TF32 on)."""

from __future__ import annotations

import pytest
import torch

from training.metrics import gpu_peak, mfu, peak_flops
from training.model import GPT, model_config


@pytest.mark.parametrize(
    "name,part,bf16,tf32",
    [
        ("NVIDIA A100-SXM4-40GB", "A100", 312.0, 156.0),
        ("NVIDIA A100 80GB PCIe", "A100", 312.0, 156.0),
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.5, 494.7),
        ("NVIDIA H100 PCIe", "H100 PCIe", 756.0, 378.0),
        ("NVIDIA H100 NVL", "H100 NVL", 835.5, 417.5),
        ("NVIDIA H200", "H200 SXM", 989.5, 494.7),
        ("NVIDIA GH200 480GB", "GH200", 989.5, 494.7),
        ("NVIDIA L4", "L4", 121.0, 60.0),
        ("NVIDIA L40S", "L40S", 362.05, 183.0),
        ("NVIDIA L40", "L40", 181.05, 90.5),
        ("NVIDIA B200", "B200", 2250.0, 1125.0),
    ],
)
def test_each_part_is_matched_by_its_own_name(name, part, bf16, tf32):
    assert gpu_peak(name, "bf16").part == part and gpu_peak(name, "bf16").flops == bf16 * 1e12
    assert gpu_peak(name, "tf32").flops == tf32 * 1e12


def test_unknown_gpus_and_cpu_get_no_mfu():
    assert gpu_peak("NVIDIA GeForce GTX 1080", "bf16") is None
    assert peak_flops(torch.device("cpu"), "auto") is None
    assert mfu(1e9, 1e5, 1, None) is None


@pytest.fixture
def tf32():
    """torch.backends.cuda.matmul.allow_tf32 (a property of torch's cuBLAS module), restored afterwards."""
    matmul = torch.backends.cuda.matmul
    before = matmul.allow_tf32
    yield matmul
    matmul.allow_tf32 = before


def test_mfu_by_hand_for_two_gpus_and_both_precisions(monkeypatch, tf32):
    names = {"h100": "NVIDIA H100 80GB HBM3", "a100": "NVIDIA A100-SXM4-40GB"}
    cuda = torch.device("cuda", 0)
    tf32.allow_tf32 = True  # as training sets it on CUDA
    # gpt2-124m at T=1024, vocabulary 50304: 6 * 123,587,328 parameters + attention 12 * 12 layers * 12 heads * 64
    # * 1024 = 741,523,968 + 113,246,208
    flops_per_token = GPT(model_config("gpt2-124m", 50304, 1024)).flops_per_token(1024)
    assert flops_per_token == 854_770_176

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: names["h100"])
    bf16 = peak_flops(cuda, "bf16")
    # 400,000 tok/s per GPU on 8 H100 SXM in bf16: 8.54770176e8 * 3.2e6 / (8 * 989.5e12) = 0.345536
    assert mfu(flops_per_token, 3_200_000, 8, bf16) == pytest.approx(0.345536, rel=1e-5)
    fp32 = peak_flops(cuda, "fp32")  # fp32 with TF32 on: the TF32 tensor-core peak, 494.7 TFLOP/s
    assert fp32.precision == "tf32"
    # 200,000 tok/s on one H100 SXM in fp32 + TF32: 8.54770176e8 * 2e5 / 494.7e12 = 0.345571
    assert mfu(flops_per_token, 200_000, 1, fp32) == pytest.approx(0.345571, rel=1e-5)

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: names["a100"])
    # 120,000 tok/s on one A100 in bf16: 8.54770176e8 * 1.2e5 / 312e12 = 0.328758
    assert mfu(flops_per_token, 120_000, 1, peak_flops(cuda, "auto")) == pytest.approx(0.328758, rel=1e-5)
    # fp32 + TF32 on 2 A100s, 50,000 tok/s in all: 8.54770176e8 * 5e4 / (2 * 156e12) = 0.136982
    assert mfu(flops_per_token, 50_000, 2, peak_flops(cuda, "fp32")) == pytest.approx(0.136982, rel=1e-5)
    tf32.allow_tf32 = False
    assert peak_flops(cuda, "fp32") is None  # plain fp32 has no tensor-core peak to compare with
