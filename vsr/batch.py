"""`vsr batch`: many videos, and long ones, upscaled across cores, GPUs and machines on Ray.

The driver (this process) plans: each input is cut into segments at its keyframes
(vsr.segments); each segment is a Ray task that runs the ordinary pipeline on its frames
and writes its video, via a temporary file, into a work folder beside the outputs. When all
of an input's segments are there, the driver joins them without re-encoding and copies the
source's audio and subtitles once. A manifest in the output folder records each finished
segment, so the same command run again after a crash or Ctrl-C does only what is missing;
a worker killed mid-segment costs that segment, which Ray runs again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Optional

from .backends import pinned, refuse_unavailable
from .errors import BackendUnavailable, InputError, OutputError, SettingsError, VsrError
from .gpu_backends import GPU_BACKENDS, runs_on_gpu
from .images import is_image
from .media import SOFTWARE, EncodeSettings, open_input, video_info
from .pipeline import UpscaleSettings, choose_network, upscale_video
from .progress import Progress
from .hw_codecs import NVENC, choose_encoder
from .segments import Segment, join_segments, plan_segments
from .upscaler import Upscaler

MANIFEST = "vsr-batch.json"
WORK = ".vsr-batch"  # segment files, inside the output folder
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".m2ts"}


@dataclass(frozen=True)
class BatchSettings:
    """Everything `vsr batch` decides; `upscale` is what each segment runs with."""

    upscale: UpscaleSettings = field(default_factory=UpscaleSettings)
    segment_seconds: float = 30.0
    workers: int = 0  # local Ray: tasks at once (0: one per core, or per GPU where there are GPUs)
    address: Optional[str] = None  # a Ray cluster to join instead of starting a local one


@dataclass
class InputResult:
    """What happened to one input, for the summary."""

    source: str
    output: str
    segments: int = 0
    reused: int = 0
    frames: int = 0
    error: str = ""


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given; folders' videos (sorted); a .txt file's lines (one path each, # comments)."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.suffix == ".txt" and path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines()]
            found += [Path(line) for line in lines if line and not line.startswith("#")]
        elif path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        else:
            found.append(path)
    return found


def run_batch(inputs: list[str], out: Path, settings: BatchSettings, progress: bool = True,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[InputResult]:
    """Upscale every input into `out` (same file names); returns one result per input. Bad
    inputs are reported and passed over; the rest go on."""
    ray = _ray()
    if not settings.address:  # locally, refuse once here, not in every task; on a cluster the workers decide
        refuse_unavailable(settings.upscale.network.backend)
    sources = expand_inputs(inputs)
    if not sources:
        raise InputError("no inputs: give video files, folders of videos, or a .txt file listing them")
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SettingsError(f"two inputs would write the same output: {', '.join(twice)}; run them into separate folders")
    out.mkdir(parents=True, exist_ok=True)
    if any(s.resolve().parent == out.resolve() for s in sources if s.exists()):
        raise OutputError(f"{out}: the output folder holds inputs; choose another")
    manifest = Manifest(out / MANIFEST)
    _start_ray(ray, settings, log)
    try:
        with _ctrl_c_noted() as interrupted:
            return _run(ray, sources, out, settings, manifest, progress, log, interrupted)
    finally:
        ray.shutdown()


@contextmanager
def _ctrl_c_noted() -> Iterator[threading.Event]:
    """Ctrl-C noted in an event while the driver waits on Ray, and raised by the loop itself.
    Ray checks for signals inside its own waits, and a KeyboardInterrupt raised there was not
    reliably passed on: once in CI a run went on to its end and exited 0."""
    noted = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread has signals
        yield noted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.set())
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(ray, sources: list[Path], out: Path, settings: BatchSettings, manifest: "Manifest", progress: bool,
         log: Callable[[str], None], interrupted: threading.Event) -> list[InputResult]:
    gpus, backend = ray.cluster_resources().get("GPU", 0) > 0, settings.upscale.network.backend
    if backend in GPU_BACKENDS and not gpus:  # once, not in every segment's task
        raise BackendUnavailable(f"backend {backend} cannot run: the Ray cluster has no GPU")
    on_gpu = runs_on_gpu(backend, gpus)
    resources = {"num_cpus": 0 if on_gpu else 1, "num_gpus": 1 if on_gpu else 0}
    task = ray.remote(max_retries=3)(upscale_segment).options(**resources)
    encode, said = _encoder_for_all_nodes(ray, settings.upscale.encode, on_gpu, resources)
    for message in said:
        log(message)
    per_task = _per_task(replace(settings.upscale, encode=encode), on_gpu)
    # On the CPU, `cpu` chooses its engine by measuring: once per input, for all its segments.
    choose = not on_gpu and per_task.network.backend in ("auto", "cpu")
    chooser = ray.remote(choose_segment_network).options(**resources)
    results, pending, plans, left, total, entries, todo = {}, {}, {}, {}, 0, {}, {}
    told: dict[Path, set] = {}
    for src in sources:
        result = results[src] = InputResult(str(src), str(out / src.name))
        try:
            if is_image(src) or not src.is_file():
                raise InputError(f"{src}: not a video file")
            info, segments = plan_segments(src, settings.segment_seconds)
        except VsrError as exc:
            result.error = str(exc)
            log(f"warning: {exc}; passed over")
            continue
        entry = manifest.entry(src, settings, segments)
        if entry.get("joined") and (out / src.name).exists():
            result.segments = result.reused = len(segments)
            result.frames = sum(entry["segments"].values())
            log(f"{src.name}: done in an earlier run")
            continue
        if (out / src.name).exists():
            result.error = f"{out / src.name} exists and this folder's manifest did not write it; remove it or choose another --out"
            log(f"warning: {result.error}; {src.name} passed over")
            continue
        plans[src], left[src], entries[src], todo[src] = segments, set(), entry, []
        _part(out, src, segments[0]).parent.mkdir(parents=True, exist_ok=True)
        result.segments = len(segments)
        total += info.frames or 0
        for segment in segments:
            if str(segment.index) in entry["segments"] and _part(out, src, segment).exists():
                result.reused += 1
                result.frames += entry["segments"][str(segment.index)]
            else:
                todo[src].append(segment)
    # Every task choosing at once (an earlier run's choice stands for the segments it left).
    choosing = {src: chooser.remote(str(src), per_task) for src, missing in todo.items()
                if choose and missing and "network" not in entries[src]}
    for src, missing in todo.items():
        if not missing:  # joined below
            continue
        run_with = per_task
        if src in choosing:
            try:
                chosen, said = ray.get(choosing[src])
            except ray.exceptions.RayError as exc:  # this input fails, the rest go on
                results[src].error = str(_cause(ray, exc, out))
                log(f"warning: {results[src].error}; {src.name} passed over")
                del left[src]  # nothing of it to join
                continue
            _tell(said, told.setdefault(src, set()), log)
            manifest.network_chosen(src, chosen)
        if choose:
            run_with = replace(per_task, network=replace(per_task.network, **entries[src]["network"]))
        for segment in missing:
            pending[task.remote(str(src), str(_part(out, src, segment)), run_with, segment.start, segment.end)] = (src, segment)
            left[src].add(segment.index)
    bar = Progress(total or None, "frames", enabled=progress)
    done_frames = sum(r.frames for r in results.values())
    started = time.perf_counter()
    for src in [s for s, missing in left.items() if not missing]:  # every segment made in an earlier run
        _join(src, out, plans[src], manifest, results[src], log)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        if interrupted.is_set():
            raise KeyboardInterrupt
        if not ready:
            continue
        src, segment = pending.pop(ready[0])
        result = results[src]
        try:
            frames, said = ray.get(ready[0])
        except ray.exceptions.RayError as exc:  # this input fails, the rest go on
            cause = _cause(ray, exc, out)
            if not result.error:
                log(f"warning: {cause}; {src.name} passed over")
            result.error = str(cause)
            continue
        _tell(said, told.setdefault(src, set()), log)
        manifest.segment_done(src, segment.index, frames)
        result.frames += frames
        done_frames += frames
        segments = sum(len(s) for s in plans.values())
        bar.update(done_frames, f"segments {segments - len(pending)}/{segments}")
        left[src].discard(segment.index)
        if not left[src] and not result.error:
            _join(src, out, plans[src], manifest, result, log)
    bar.close(done_frames, f"in {time.perf_counter() - started:.0f} s")
    if (out / WORK).is_dir() and not any((out / WORK).iterdir()):
        (out / WORK).rmdir()
    return list(results.values())


def upscale_segment(src: str, part: str, settings: UpscaleSettings, start: Optional[int],
                    end: Optional[int]) -> tuple[int, list[str]]:
    """A Ray task: one segment of `src` through the pipeline into `part`; returns its frame
    count and what the pipeline said (notes and warnings, for the driver to pass on)."""
    said: list[str] = []
    summary = upscale_video(Path(src), Path(part), settings, progress=False, log=said.append, span=(start, end))
    return summary.frames, said


def choose_segment_network(src: str, settings: UpscaleSettings) -> tuple[dict, list[str]]:
    """A Ray task: the engine and precision of `cpu` that every segment of `src` runs, chosen
    here once as a segment would choose them (measured at its thread count), and what was said.
    Segments that chose for themselves could choose apart (on a loaded machine, on other
    machines), and where int8 engines differ, the seams would show."""
    said: list[str] = []
    with open_input(Path(src)) as container:
        info = video_info(container, Path(src))
    network, _ = choose_network(Path(src), info, settings, said.append)
    upscaler = Upscaler(network, said.append, (info.width, info.height), warm=False)  # the choice, not a frame
    try:
        backend, precision = pinned(upscaler.backend)
    finally:
        upscaler.close()
    return {"backend": backend, "precision": precision}, said


ERRORS = "vsr-batch-errors.log"  # in the output folder: the tracebacks of inputs that failed by a bug


def _cause(ray, exc: Exception, out: Path) -> Exception:
    """Why a task failed: its own error, or why its worker died. A bug in the task fails its
    input alone, as a user's mistake does: the line names the error, and its traceback (which
    Ray's error carries from the worker) goes to OUT/vsr-batch-errors.log."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(exc, ray.exceptions.RayTaskError) and not isinstance(cause, VsrError):
        with open(out / ERRORS, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n{exc}\n\n")
        return InputError(f"{type(cause).__name__}: {cause} (a bug in vsr; the traceback is in {out / ERRORS})")
    return cause


def _tell(said: list[str], told: set, log: Callable[[str], None]) -> None:
    """Pass on what a task said, each line once per input: every segment says the same notes."""
    for message in said:
        if message not in told:
            told.add(message)
            log(message)


def choose_segment_encoder(encode: EncodeSettings, on_gpu: bool) -> tuple[EncodeSettings, list[str]]:
    """A Ray task: choose_encoder on a worker; returns its choice and what it said."""
    said: list[str] = []
    return choose_encoder(encode, on_gpu, said.append), said


def _encoder_for_all_nodes(ray, encode: EncodeSettings, on_gpu: bool,
                           resources: dict) -> tuple[EncodeSettings, list[str]]:
    """One encoder for every segment (they join only if encoded alike), chosen on the workers:
    NVENC is a GPU node's to have, not the driver's. Where only some nodes have it, x264 on all."""
    if not on_gpu:  # nothing to look for on the workers
        said: list[str] = []
        return choose_encoder(encode, False, said.append), said
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and (n.get("Resources") or {}).get("GPU", 0) > 0]
    task = ray.remote(choose_segment_encoder)
    choices = ray.get([task.options(**resources, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                       .remote(encode, on_gpu) for node in nodes])
    if len({chosen.codec for chosen, _ in choices}) == 1:
        return choices[0]
    with_nvenc = sum(chosen.codec == NVENC for chosen, _ in choices)
    return replace(encode, codec=SOFTWARE), [
        f"note: {with_nvenc} of {len(nodes)} GPU nodes have NVENC; encoding with {SOFTWARE} on all, so that segments join"]


def _join(src: Path, out: Path, segments: list[Segment], manifest: "Manifest", result: InputResult,
          log: Callable[[str], None]) -> None:
    """Join an input's segments into its output; a failure fails this input only."""
    parts = [_part(out, src, s) for s in segments]
    try:
        join_segments(parts, src, out / src.name, log)
    except VsrError as exc:
        result.error = str(exc)
        log(f"warning: {exc}; {src.name} passed over")
        return
    manifest.joined(src)
    shutil.rmtree(parts[0].parent, ignore_errors=True)
    log(f"{src.name}: {result.frames} frames in {len(segments)} segments"
        + (f" ({result.reused} from an earlier run)" if result.reused else "") + f" -> {out / src.name}")


def _part(out: Path, src: Path, segment: Segment) -> Path:
    return out / WORK / src.name / f"part-{segment.index:05d}.nut"


def _per_task(settings: UpscaleSettings, on_gpu: bool) -> UpscaleSettings:
    """Settings for one task: on the CPU, one thread for the network and one for the encoder
    unless --threads says otherwise (Ray runs a task per core); segments overwrite leftovers."""
    threads = settings.network.threads or (0 if on_gpu else 1)
    return replace(settings, overwrite=True, network=replace(settings.network, threads=threads),
                   encode=replace(settings.encode, threads=settings.encode.threads or threads))


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise SettingsError('vsr batch runs on Ray, which is not installed: pip install "vsr[batch]"') from exc
    return ray


def _start_ray(ray, settings: BatchSettings, log: Callable[[str], None]) -> None:
    import logging

    if settings.address:
        ray.init(address=settings.address, logging_level=logging.ERROR, log_to_driver=False)
        log(f"on the Ray cluster at {settings.address}: {ray.cluster_resources()}")
        return
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    workers = settings.workers or (gpus or os.cpu_count() or 1)
    ray.init(num_cpus=workers, num_gpus=gpus, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False, object_store_memory=128 << 20)
    log(f"local Ray: {workers} {'GPU' if gpus else 'CPU'} worker(s)")


class Manifest:
    """The output folder's record of finished work: per input, what it was made from and the
    frames of each finished segment. Rewritten whole (via a rename) after each change."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            self.data = {}  # unreadable: start over; the segment files are remade

    def entry(self, src: Path, settings: BatchSettings, segments: list[Segment]) -> dict:
        """The record of `src`, reset if the file, the settings or the plan changed since."""
        stat = src.stat()
        made_from = {"size": stat.st_size, "mtime": stat.st_mtime,
                     "settings": _digest(asdict(replace(settings, workers=0, address=None))),
                     "segments": [[s.start, s.end] for s in segments]}
        key = str(src.resolve())
        if self.data.get(key, {}).get("made_from") != made_from:
            self.data[key] = {"made_from": made_from, "segments": {}, "joined": False}
            self._save()
        return self.data[key]

    def network_chosen(self, src: Path, network: dict) -> None:
        self.data[str(src.resolve())]["network"] = network
        self._save()

    def segment_done(self, src: Path, index: int, frames: int) -> None:
        self.data[str(src.resolve())]["segments"][str(index)] = frames
        self._save()

    def joined(self, src: Path) -> None:
        self.data[str(src.resolve())]["joined"] = True
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.path)


def _digest(value: dict) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
