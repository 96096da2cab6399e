"""The GPU middle stage: a frame's planes up to the device, Y through the network and Cb/Cr
by bicubic interpolation there, and back, with the copies of one frame overlapping the
compute of another.

A ring of buffer sets (pinned host planes in, device planes in and out, pinned host planes
out) holds a few frames in flight. For frame k, the upload runs on the copy stream, the
network and chroma on the compute stream once the upload's event has fired, and the
download on the copy stream once the compute's event has fired; the host waits only for the
oldest frame's download, when it needs that frame. Torch owns the CUDA context and streams.
On the CPU the same code runs with CPU tensors, and streams and events that do nothing, so
the ring, the frame order, timestamps, end of stream and errors are tested without a GPU.
"""
from __future__ import annotations

import time
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import av
import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError
from .media import bit_depth, plane

# The network: a float batch (N, 1, H, W) in 0..1 on the device -> (N, 1, sH, sW), any float type.
Network = Callable[[torch.Tensor], torch.Tensor]


class _NoStream:
    """A CPU stand-in for torch.cuda.Stream: work is done when its call returns."""

    def wait_event(self, event) -> None:
        pass


class _NoEvent:
    """A CPU stand-in for torch.cuda.Event."""

    def record(self, stream=None) -> None:
        pass

    def synchronize(self) -> None:
        pass


@dataclass
class _Slot:
    """One buffer set of the ring, and the frame it holds while in flight."""

    host_in: list[torch.Tensor]
    dev_in: list[torch.Tensor]
    dev_out: list[torch.Tensor]
    host_out: list[torch.Tensor]
    uploaded: object
    computed: object
    downloaded: object
    pts: Optional[int] = None
    time_base: object = None


def _torch_dtype(bits: int) -> torch.dtype:
    # 9- to 16-bit samples travel as int16: numpy's uint16 viewed as int16, values below 2^15.
    return torch.uint8 if bits <= 8 else torch.int16


def _host_view(tensor: torch.Tensor) -> np.ndarray:
    array = tensor.numpy()
    return array.view(np.uint16) if array.dtype == np.int16 else array


class DeviceStage:
    """Upscales decoded frames into new frames of `out_size` and `pix_fmt`, on `device`.

    `network` runs on the compute stream. `slots` buffer sets are in flight at most; three
    let the upload of frame k+1 and the download of frame k-1 overlap the compute of frame k.
    """

    def __init__(self, network: Network, device: torch.device | str, scale: int, in_pix_fmt: str,
                 in_size: tuple[int, int], out_pix_fmt: str, out_size: tuple[int, int], slots: int = 3):
        self.network, self.device, self.scale = network, torch.device(device), scale
        self.out_pix_fmt, self.out_size, self.in_size = out_pix_fmt, out_size, in_size
        self.bits_in, self.bits_out = bit_depth(in_pix_fmt), bit_depth(out_pix_fmt)
        cuda = self.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(self.device) if cuda else _NoStream()
        self.compute_stream = torch.cuda.Stream(self.device) if cuda else _NoStream()
        in_shapes = _plane_shapes(in_pix_fmt, in_size)
        out_shapes = _plane_shapes(out_pix_fmt, out_size)
        self.chroma_in = len(in_shapes) > 1
        din, dout = _torch_dtype(self.bits_in), _torch_dtype(self.bits_out)

        def host(shape, dtype):
            return torch.empty(shape, dtype=dtype, pin_memory=cuda)

        def event():
            return torch.cuda.Event() if cuda else _NoEvent()

        self.slots = [
            _Slot([host(s, din) for s in in_shapes], [torch.empty(s, dtype=din, device=self.device) for s in in_shapes],
                  [torch.empty(s, dtype=dout, device=self.device) for s in out_shapes],
                  [host(s, dout) for s in out_shapes], event(), event(), event())
            for _ in range(slots)
        ]
        self.busy = 0.0  # seconds the host spent here, waits for the device included

    def frames(self, frames: Iterable[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        """The upscaled frames, in the order given, with their timestamps."""
        in_flight: deque[_Slot] = deque()
        try:
            for i, frame in enumerate(frames):
                t0 = time.perf_counter()
                slot = self.slots[i % len(self.slots)]
                if len(in_flight) == len(self.slots):  # the ring is full: the oldest frame, slot's, is due
                    result = self._finish(in_flight.popleft())
                    self.busy += time.perf_counter() - t0
                    yield result
                    t0 = time.perf_counter()
                self._submit(slot, frame)
                in_flight.append(slot)
                self.busy += time.perf_counter() - t0
            while in_flight:
                t0 = time.perf_counter()
                result = self._finish(in_flight.popleft())
                self.busy += time.perf_counter() - t0
                yield result
        finally:
            if self.device.type == "cuda":  # stopped early: the ring's buffers may not be reused while work is queued
                torch.cuda.synchronize(self.device)

    def _submit(self, slot: _Slot, frame: av.VideoFrame) -> None:
        if (frame.width, frame.height) != self.in_size:
            raise InputError(f"the frame size changes mid-stream ({self.in_size[0]}x{self.in_size[1]} -> "
                             f"{frame.width}x{frame.height} at {float(frame.pts * frame.time_base):.2f} s); "
                             "split the video where it changes")
        for i, host in enumerate(slot.host_in):
            _host_view(host)[...] = plane(frame, i)  # the slot is free: its last download was waited for
        slot.pts, slot.time_base = frame.pts, frame.time_base
        with self._on(self.copy_stream):
            for dev, host in zip(slot.dev_in, slot.host_in):
                dev.copy_(host, non_blocking=True)
            slot.uploaded.record(self.copy_stream)
        self.compute_stream.wait_event(slot.uploaded)
        with self._on(self.compute_stream), torch.inference_mode():
            self._compute(slot)
            slot.computed.record(self.compute_stream)
        self.copy_stream.wait_event(slot.computed)
        with self._on(self.copy_stream):
            for host, dev in zip(slot.host_out, slot.dev_out):
                host.copy_(dev, non_blocking=True)
            slot.downloaded.record(self.copy_stream)

    def _compute(self, slot: _Slot) -> None:
        """Y through the network, Cb/Cr by bicubic, both quantised as the CPU stage does."""
        max_in = float(255 << (self.bits_in - 8))  # the network's 0..1 is 8-bit 0..255
        y = slot.dev_in[0].float().mul_(1.0 / max_in)[None, None]
        up = self.network(y)[0, 0].float()
        width, height = self.out_size
        up = up[:height, :width].mul(float(255 << (self.bits_out - 8))).add_(0.5)
        slot.dev_out[0].copy_(up.clamp_(0, (1 << self.bits_out) - 1))  # float to integer truncates, as astype
        for i, dev in enumerate(slot.dev_out[1:], start=1):
            if not self.chroma_in:  # grey input: neutral chroma
                dev.fill_(128 << (self.bits_out - 8))
                continue
            c = F.interpolate(slot.dev_in[i].float()[None, None], size=tuple(dev.shape), mode="bicubic",
                              align_corners=False)[0, 0]  # OpenCV's INTER_CUBIC: a = -0.75, half-pixel centres
            shift = self.bits_out - self.bits_in
            c = c.add_(0.5).floor_().clamp_(0, (1 << self.bits_in) - 1)
            c = c * (1 << shift) if shift >= 0 else c.add_((1 << -shift) >> 1).div_(1 << -shift).floor_()
            dev.copy_(c.clamp_(0, (1 << self.bits_out) - 1))

    def _finish(self, slot: _Slot) -> av.VideoFrame:
        # A hand-off: the host needs this frame's planes, so it waits for their download.
        slot.downloaded.synchronize()
        result = av.VideoFrame(self.out_size[0], self.out_size[1], self.out_pix_fmt)
        for i, host in enumerate(slot.host_out):
            plane(result, i)[...] = _host_view(host)
        result.pts, result.time_base = slot.pts, slot.time_base
        return result

    def _on(self, stream):
        return torch.cuda.stream(stream) if self.device.type == "cuda" else nullcontext()


def _plane_shapes(pix_fmt: str, size: tuple[int, int]) -> list[tuple[int, int]]:
    """(height, width) of each plane of a planar YUV or grey format."""
    frame = av.VideoFrame(size[0], size[1], pix_fmt)
    return [(p.height, p.width) for p in frame.planes]
