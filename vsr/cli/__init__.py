"""The `vsr` command: each subcommand parses its options and calls one library function."""
from __future__ import annotations

import os
import signal
import sys

import click

from vsr.errors import VsrError
from .batch import batch_command
from .bench import bench_command
from .evaluate import eval_command
from .export import export_command
from .live import live_command
from .models import models_command
from .quantize import quantize_command
from .reproduce import reproduce_command
from .train import train_command
from .upscale import upscale_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vsr", message="vsr %(version)s")
def cli() -> None:
    """Real-time video super-resolution: small networks on the luma (Y) channel."""


cli.add_command(upscale_command)
cli.add_command(batch_command)
cli.add_command(live_command)
cli.add_command(train_command)
cli.add_command(reproduce_command)
cli.add_command(eval_command)
cli.add_command(export_command)
cli.add_command(quantize_command)
cli.add_command(bench_command)
cli.add_command(models_command)


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, timeout, kill), raised in the main thread so that a run unwinds as
    from Ctrl-C: stages stopped, the partial output removed."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main() -> None:
    """Entry point: a user's mistake prints one line and exits 2; Ctrl-C exits 130, SIGTERM 143."""
    signal.signal(signal.SIGTERM, _terminate)
    # A process forked from this one (as OpenVINO's telemetry forked one, and ended it with
    # SIGTERM after a timeout) must die of SIGTERM as usual: a Python handler runs only between
    # bytecodes, and a fork of a threaded process may be stuck in C.
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    try:
        cli.main(standalone_mode=False)
    except VsrError as exc:
        click.echo(f"vsr: error: {exc}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns the interrupt into Abort
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
            click.echo("vsr: terminated", err=True)
            sys.exit(143)
        click.echo("vsr: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
