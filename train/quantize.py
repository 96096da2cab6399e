"""`vsr quantize`: int8 graphs of a model for the two CPU engines, and what int8 costs on Set5.

Each engine gets the graph its own tool makes from the same float32 export: ONNX Runtime's
static QDQ quantisation and NNCF's post-training quantisation with accuracy control (for
OpenVINO). Both use per-channel int8 weights and activations calibrated on real video
frames; NNCF then puts back to float32 the convolutions whose int8 costs most on the
validation images, one at a time, until the graph loses at most 0.1 dB there. The graphs go
beside the weights file and the manifest records each one's Set5 PSNR as its engine runs
it, and which layers stayed float32: int8 becomes a model's default on an engine only where
it loses at most 0.1 dB.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import av
import numpy as np

from vsr.backends import BackendSettings, OnnxRuntimeCpu, OpenVinoCpu, import_openvino, openvino_core
from vsr.colour import rgb_to_y
from vsr.errors import InputError
from vsr.images import image_files, read_rgb
from vsr.onnx_export import INPUT, onnx_bytes
from vsr.machine import bf16_kind, has_vnni
from vsr.weights import INT8_TOLERANCE_DB, Network, load_network, sha256
from .evaluate import as_stored, backend_y_upscaler, evaluate
from .imresize import hr_lr_pair
from .metrics import psnr, shave

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm"}
CROP = (240, 320)  # calibration crops (height, width): the smallest shared clip is 240 tall


def calibration_frames(folder: str | Path, per_clip: int = 8) -> list[np.ndarray]:
    """Y planes (1, 1, 240, 320) in 0..1, `per_clip` frames spread over each video in `folder`,
    centre-cropped: what the network sees in use, not downscaled stills."""
    clips = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    frames = []
    for clip in clips:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            planes = [f.reformat(format="gray").to_ndarray() for f in container.decode(stream)]
        h, w = CROP
        for plane in planes[:: max(1, len(planes) // per_clip)][:per_clip]:
            if plane.shape[0] >= h and plane.shape[1] >= w:
                top, left = (plane.shape[0] - h) // 2, (plane.shape[1] - w) // 2
                frames.append((plane[top : top + h, left : left + w] / 255.0).astype(np.float32)[None, None])
    if not frames:
        raise InputError(f"{folder}: no video of at least {CROP[1]}x{CROP[0]} to calibrate on")
    return frames


@dataclass(frozen=True)
class Validation:
    """What an int8 graph is scored on while it is made: (LR Y in 0..1 as the network takes it,
    HR Y) for each validation image, and the scale."""

    pairs: tuple[tuple[np.ndarray, np.ndarray], ...]
    scale: int


def validation_pairs(val: str | Path, scale: int) -> Validation:
    """The images of `val` (e.g. Set5) as `evaluate` makes them: HR cropped, LR by bicubic."""
    pairs = []
    for path in image_files(val):
        hr, lr = hr_lr_pair(read_rgb(path), scale)
        pairs.append(((rgb_to_y(lr) / 255.0).astype(np.float32)[None, None], rgb_to_y(hr)))
    return Validation(tuple(pairs), scale)


def quantize_onnxruntime(graph: bytes, frames: Sequence[np.ndarray], validation: Validation) -> bytes:
    """ONNX Runtime's static quantisation: QDQ, per-channel int8 weights, uint8 activations
    (min-max). It has no accuracy control, so `validation` is not used: every layer is int8."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(frames)

        def get_next(self):
            frame = next(self.items, None)
            return None if frame is None else {INPUT: frame}

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_static(onnx.load_from_string(graph), out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return out.read_bytes()


def openvino_psnr(model, pairs: Sequence[tuple[np.ndarray, np.ndarray]], scale: int) -> tuple[float, list[float]]:
    """Mean and per-image PSNR of an ONNX model (onnx.ModelProto) run by OpenVINO on (LR, HR)
    pairs: NNCF's validation, compiled once for every image size (height and width dynamic)."""
    core = openvino_core()
    network = core.read_model(model.SerializeToString())
    network.reshape([1, 1, -1, -1])
    request = core.compile_model(network, "CPU").create_infer_request()
    scores = []
    for lr, hr in pairs:
        sr = request.infer({0: lr})[0][0, 0]
        scores.append(psnr(shave(as_stored(sr), scale), shave(hr, scale)))
    return float(np.mean(scores)), scores


def quantize_nncf(graph: bytes, frames: Sequence[np.ndarray], validation: Validation) -> bytes:
    """NNCF's post-training quantisation for OpenVINO (per-channel weights, asymmetric
    activations) with accuracy control: layers go back to float32, the costliest first, until
    the graph, run by OpenVINO, loses at most INT8_TOLERANCE_DB of PSNR on `validation`."""
    import logging

    import_openvino()  # NNCF imports OpenVINO: without its telemetry (see import_openvino)
    import nncf
    import onnx

    nncf.set_log_level(logging.ERROR)
    quantized = nncf.quantize_with_accuracy_control(
        onnx.load_from_string(graph), nncf.Dataset(list(frames), lambda f: {INPUT: f}),
        nncf.Dataset(list(validation.pairs), lambda pair: {INPUT: pair[0]}),
        lambda model, pairs: openvino_psnr(model, pairs, validation.scale),
        max_drop=INT8_TOLERANCE_DB, subset_size=len(frames), preset=nncf.QuantizationPreset.MIXED)
    return quantized.SerializeToString()


def conv_precisions(graph: bytes) -> dict[str, str]:
    """Each convolution of a QDQ graph: "int8" where its weights are dequantised int8, else
    "float32" (a layer accuracy control put back)."""
    import onnx

    nodes = onnx.load_from_string(graph).graph.node
    dequantized = {out for node in nodes if node.op_type == "DequantizeLinear" for out in node.output}
    return {node.name: "int8" if node.input[1] in dequantized else "float32" for node in nodes if node.op_type == "Conv"}


QUANTIZERS: dict[str, tuple[type, Callable[[bytes, Sequence[np.ndarray], Validation], bytes], str]] = {
    # engine: (its backend, its quantiser, the package that quantises)
    "onnxruntime": (OnnxRuntimeCpu, quantize_onnxruntime, "onnxruntime"),
    "openvino": (OpenVinoCpu, quantize_nncf, "nncf"),
}


def set5_psnr(backend, val: str | Path, scale: int) -> dict:
    """Mean Set5 PSNR/SSIM of a loaded backend."""
    return evaluate(val, scale, backend_y_upscaler(backend))["mean"]["model"]


def quantize(model: str, scale: int, calibration: str | Path, val: str | Path,
             engines: Sequence[str] = tuple(QUANTIZERS), log: Callable[[str], None] = print) -> dict:
    """Write an int8 graph per engine beside the weights of `model` and record them in its manifest."""
    from importlib import metadata

    net = load_network(model, scale)
    frames = calibration_frames(calibration)
    validation = validation_pairs(val, scale)
    graph = onnx_bytes(net.module)
    records = dict(net.manifest.get("int8", {}))
    for engine in engines:
        backend_class, quantizer, package = QUANTIZERS[engine]
        fp32 = backend_class(net, BackendSettings(precision="fp32"))
        fp32.load()
        before = set5_psnr(fp32, val, scale)
        path = net.path.with_name(f"{net.path.stem}.int8-{engine}.onnx")
        quantized = quantizer(graph, frames, validation)
        layers = conv_precisions(quantized)
        if "int8" not in layers.values():
            records.pop(engine, None)
            path.unlink(missing_ok=True)
            log(f"{engine}: no int8 graph: every layer had to stay float32 to lose at most {INT8_TOLERANCE_DB} dB on {val}")
            continue
        path.write_bytes(quantized)
        records[engine] = {"graph": path.name, "sha256": sha256(path),
                           "float32_layers": [name for name, kind in layers.items() if kind == "float32"]}
        int8 = backend_class(Network(net.module, net.path, {**net.manifest, "int8": records}), BackendSettings(precision="int8"))
        int8.load()
        after = set5_psnr(int8, val, scale)
        loss = round(before["psnr"] - after["psnr"], 3)
        default = loss <= INT8_TOLERANCE_DB
        records[engine].update({
            "psnr": round(after["psnr"], 3), "ssim": round(after["ssim"], 4), "float32_psnr": round(before["psnr"], 3),
            "loss_db": loss, "default": default, "quantizer": f"{package} {metadata.version(package)}",
            "calibration": f"{len(frames)} frames {CROP[1]}x{CROP[0]} from {calibration}", "cpu_vnni": has_vnni(),
        })
        log(f"{engine}: int8 {after['psnr']:.3f} dB against float32 {before['psnr']:.3f} dB on {val} "
            f"({loss:+.3f} dB lost; {'the default' if default else 'not the default'})"
            + (f"; kept float32: {', '.join(records[engine]['float32_layers'])}" if records[engine]["float32_layers"] else ""))
    _record(net, "int8", records)
    return records


def _record(net: Network, precision: str, records: dict) -> None:
    """The manifest beside the weights, with `precision`'s records (per engine) in place of its old ones."""
    net.path.with_suffix(".json").write_text(json.dumps({**net.manifest, precision: records}, indent=2) + "\n")


def record_bf16(model: str, scale: int, val: str | Path, log: Callable[[str], None] = print) -> dict:
    """Score OpenVINO's bf16 (the float32 graph compiled to compute in bfloat16: no graph to
    ship) against its float32 on `val`, and record it in the model's manifest with the CPU's
    kind of bfloat16, which its figure depends on; `auto` measures bf16 only where it lost
    at most INT8_TOLERANCE_DB."""
    from importlib import metadata

    net = load_network(model, scale)
    scores = {}
    for precision in ("fp32", "bf16"):
        backend = OpenVinoCpu(net, BackendSettings(precision=precision))  # bf16: refused without bfloat16
        backend.load()
        scores[precision] = set5_psnr(backend, val, scale)
    loss = round(scores["fp32"]["psnr"] - scores["bf16"]["psnr"], 3)
    record = {"psnr": round(scores["bf16"]["psnr"], 3), "ssim": round(scores["bf16"]["ssim"], 4),
              "float32_psnr": round(scores["fp32"]["psnr"], 3), "loss_db": loss, "default": loss <= INT8_TOLERANCE_DB,
              "engine": f"openvino {metadata.version('openvino')}", "cpu_bf16": bf16_kind()}
    log(f"openvino: bf16 {record['psnr']:.3f} dB against float32 {record['float32_psnr']:.3f} dB on {val} "
        f"({loss:+.3f} dB lost; {'auto measures it' if record['default'] else 'auto passes it over'}) on a CPU with "
        f"{record['cpu_bf16']}")
    _record(net, "bf16", {**net.manifest.get("bf16", {}), "openvino": record})
    return record
