"""The ``voxelio`` command line (public API only).

voxelio demo [DIR]          write, read back and check the built-in example
voxelio info PATH           print the info of a layer or an annotation dataset
voxelio pyramid PATH        add downsampled scales to a layer, computed on Dask
voxelio serve PATH          serve layers over HTTP for Neuroglancer (read-only)
voxelio --version
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from voxelio import CloudVolume, __version__, from_cloudpath
from voxelio.demo import run_demo
from voxelio.errors import VoxelioError
from voxelio.paths import parse
from voxelio.storage import open_store
from voxelio.storage.httpserver import DEFAULT_PORT, StoreServer

log = logging.getLogger("voxelio")


def _demo(args: argparse.Namespace) -> int:
    shape = (256, 256, 64) if not args.small else (96, 96, 24)
    print(f"voxelio demo: writing a synthetic EM image and segmentation {shape} to {args.dir}")
    result = run_demo(args.dir, shape=shape, progress=args.progress)
    print(f"  image:        {result.image_path}  (uint8, raw, {result.mips} mips)")
    print(f"  segmentation: {result.segmentation_path}  (uint64, {result.labels} labels)")
    print("  read back every mip: identical to what was written")
    print(f"To look at it in Neuroglancer: voxelio serve {args.dir}")
    print(f"  then open precomputed://http://127.0.0.1:{DEFAULT_PORT}/image (and /segmentation)")
    print("Or in Python:")
    print(f"  from voxelio import CloudVolume; CloudVolume({result.image_path!r})[:, :, 0]")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = from_cloudpath(args.path).info
    info = info.to_json() if hasattr(info, "to_json") else info
    print(json.dumps(info, indent=2))
    return 0


def _pyramid(args: argparse.Namespace) -> int:
    try:
        import dask
        from tqdm.dask import TqdmCallback

        from voxelio.dask import add_pyramid
    except ImportError as exc:
        print(f"voxelio: error: {exc}; install voxelio[dask]", file=sys.stderr)
        return 1
    before = len(CloudVolume(args.path).info["scales"])
    try:
        later = add_pyramid(args.path, args.mips, args.factor, compute=False)
    except ValueError as exc:
        print(f"voxelio: error: {exc}", file=sys.stderr)
        return 1
    log.info("downsampling %s: %d scale(s) by %s", args.path, args.mips, args.factor)
    with (
        dask.config.set(scheduler=args.scheduler),
        TqdmCallback(desc="Downsampling", disable=not args.progress),
    ):
        dask.compute(later)
    vol = CloudVolume(args.path)
    for mip in range(before, len(vol.info["scales"])):
        scale = vol.info["scales"][mip]
        print(f"mip {mip}: {scale['key']}  size {scale['size']}  chunks {scale['chunk_sizes'][0]}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    path = parse(args.path)
    if path.protocol == "file" and not Path(path.location).is_dir():
        print(f"voxelio: error: {path.location}: not a directory", file=sys.stderr)
        return 1
    store = open_store(path.url, read_only=True)
    server = StoreServer(store, args.host, args.port)
    print(f"voxelio: serving {path.url} at {server.url} (read-only; Ctrl-C stops)")
    for layer in _layers(store.exists("info"), path.protocol, path.location):
        print(f"  Neuroglancer: precomputed://{server.url}{layer}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


def _layers(root_is_layer: bool, protocol: str, location: str) -> list[str]:
    """URL suffixes of the layers served: the root, else local subdirectories with an info."""
    if root_is_layer:
        return [""]
    if protocol != "file":
        return ["/LAYER"]
    found = sorted(p.name for p in Path(location).iterdir() if (p / "info").is_file())
    return [f"/{name}" for name in found] or ["/LAYER"]


def _port(text: str) -> int:
    """A TCP port number (0: any free port), for argparse."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def _positive(text: str) -> int:
    """An integer of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="voxelio",
        description="Fast, safe I/O for Neuroglancer Precomputed volumes.",
    )
    parser.add_argument("--version", action="version", version=f"voxelio {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="write, read back and check a built-in local example")
    demo.add_argument(
        "dir",
        nargs="?",
        default="voxelio-demo",
        help="directory to write into (default: ./voxelio-demo)",
    )
    demo.add_argument("--small", action="store_true", help="a smaller example (faster)")
    demo.add_argument("--progress", action="store_true", help="show progress bars")
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="print the info of a layer or an annotation dataset")
    info.add_argument("path", help="cloud path of the layer, e.g. file:///data/layer")
    info.set_defaults(func=_info)
    pyramid = sub.add_parser(
        "pyramid", help="add downsampled scales to a layer (mean for images, mode for labels)"
    )
    pyramid.add_argument("path", help="cloud path of the layer, e.g. file:///data/layer")
    pyramid.add_argument("--mips", type=_positive, default=1, help="scales to add (default: 1)")
    pyramid.add_argument(
        "--factor", type=_positive, nargs=3, default=[2, 2, 1], metavar=("X", "Y", "Z"),
        help="downsampling factor of each new scale (default: 2 2 1)",
    )  # fmt: skip
    pyramid.add_argument(
        "--scheduler", choices=["threads", "processes", "synchronous"], default="threads",
        help="Dask scheduler (default: threads)",
    )  # fmt: skip
    pyramid.add_argument("--progress", action="store_true", help="show a progress bar")
    pyramid.set_defaults(func=_pyramid)
    serve = sub.add_parser(
        "serve", help="serve layers over HTTP for Neuroglancer (read-only, CORS, byte ranges)"
    )
    serve.add_argument("path", help="a layer or a directory of layers (a local path or cloud path)")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT,
        help=f"TCP port (default: {DEFAULT_PORT}; 0 picks a free one)",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voxelio`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except VoxelioError as exc:
        print(f"voxelio: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
