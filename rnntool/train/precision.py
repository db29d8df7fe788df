"""Arithmetic precision of the training passes: autocast and, for fp16, loss scaling.

Weights and optimizer state stay float32 at every precision; autocast runs the
matrix products in bf16 or fp16. cuDNN's LSTM/GRU kernels have no bf16 variant
before cuDNN 9.13 (pytorch issues #88136, #116925), so on older GPUs ``auto``
takes fp16 with a GradScaler and an explicit ``bf16`` is refused up front.
"""

from __future__ import annotations

import functools

import torch

from rnntool.config import PRECISIONS, choice
from rnntool.errors import RnntoolError

CUDNN_BF16_RNN = 91300  # torch.backends.cudnn.version() from which recurrent bf16 kernels exist


def _cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX). oneDNN also "supports" bf16 on plain
    AVX-512 by emulation, which measured 1.8x slower than fp32 for the char LM here."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:  # not Linux: trust oneDNN's own answer
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False


@functools.cache
def _cpu_bf16_rnn_runs() -> bool:
    """Whether this CPU's oneDNN runs a recurrent layer in bf16 at all: with neither native
    bf16 nor AVX-512 to emulate it, creating the LSTM primitive fails."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4)(torch.zeros(2, 1, 4))
        return True
    except RuntimeError:
        return False


def _cuda_bf16_rnn(device: torch.device) -> bool:
    version = torch.backends.cudnn.version() or 0
    return torch.cuda.is_bf16_supported() and version >= CUDNN_BF16_RNN


def resolve_precision(name: str, device: torch.device, cpu_bf16: bool = True) -> str:
    """What the run uses. auto: bf16 where the hardware does bf16 natively (AVX512-BF16/AMX
    CPUs for kinds with ``cpu_bf16``; GPUs whose cuDNN has recurrent bf16 kernels), fp16 on
    other CUDA GPUs, else fp32."""
    choice(name, PRECISIONS, "precision")
    kind = device.type
    if name == "auto":
        if kind == "cpu":
            return "bf16" if cpu_bf16 and _cpu_has_bf16() else "fp32"
        if kind == "cuda":
            return "bf16" if _cuda_bf16_rnn(device) else "fp16"
        return "fp32"
    if name == "fp32":
        return name
    if kind not in ("cpu", "cuda"):
        raise RnntoolError(f"--precision {name} runs on CPUs and CUDA GPUs; use --precision fp32 on {kind}")
    if name == "fp16" and kind != "cuda":
        raise RnntoolError("--precision fp16 needs a CUDA GPU (loss scaling); on CPUs use bf16 or fp32")
    if name == "bf16" and kind == "cpu" and not _cpu_bf16_rnn_runs():
        raise RnntoolError("--precision bf16: this CPU cannot run LSTM/GRU layers in bf16 (it has neither "
                           "AVX512-BF16/AMX nor AVX-512 to emulate them); use --precision fp32 or auto")
    if name == "bf16" and kind == "cuda" and not _cuda_bf16_rnn(device):
        raise RnntoolError(
            f"--precision bf16: this GPU or its cuDNN ({torch.backends.cudnn.version()}) has no bf16 LSTM/GRU "
            "kernels (they need cuDNN 9.13 and a bf16 GPU); use --precision fp16 or fp32"
        )
    return name


def autocast(device: torch.device, precision: str):
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision in ("bf16", "fp16"))


def grad_scaler(device: torch.device, precision: str):
    """Loss scaling for fp16 (its small exponent range underflows gradients); a no-op otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
