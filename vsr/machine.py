"""Describe the machine a result came from: CPU, cores, memory, GPU and library versions."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Optional


def _cpuinfo(field: str) -> Optional[str]:
    """The first CPU's `field` in /proc/cpuinfo, None where there is no such file or field."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (platform's guess elsewhere)."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def has_vnni() -> bool:
    """Whether the CPU has VNNI (AVX512-VNNI, AVX-VNNI or AMX): without it, int8 engines sum
    pairs of products in int16 (ONNX Runtime's can saturate), so int8 scores differ."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & _flags())


def bf16_kind() -> Optional[str]:
    """How the CPU computes in bfloat16: "amx" (AMX tiles), "avx512_bf16" (AVX512_BF16 dot
    products), or None (no bfloat16 instructions: OpenVINO's bf16 is not offered there).
    bf16 scores are recorded with the kind that made them, as int8's are with VNNI."""
    flags = _flags()
    return "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else None


def _flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return set((_cpuinfo("flags") or "").split())


def memory_gib() -> float:
    """Total memory in GiB, 0 where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def versions(packages: tuple[str, ...] = ("torch", "onnxruntime", "openvino", "av", "opencv-python", "numpy",
                                          "tensorrt")) -> dict:
    """Installed versions of the packages that change results, plus Python's."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        import av

        found["ffmpeg"] = av.ffmpeg_version_info
    except ImportError:
        pass
    return found


def nvidia_driver() -> Optional[str]:
    """The NVIDIA driver version from nvidia-smi, or None where there is none."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def describe(device: str = "cpu") -> dict:
    """One dict naming the machine; GPU fields where torch sees a CUDA device."""
    info = {
        "cpu": cpu_model(),
        "cpu_vnni": has_vnni(),
        "cpu_bf16": bf16_kind(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib(), 1),
        "os": platform.platform(),
        "device": device,
        "versions": versions(),
    }
    import torch

    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device if device.startswith("cuda") else 0)
        info["cuda"] = torch.version.cuda
        info["driver"] = nvidia_driver()
    return info
