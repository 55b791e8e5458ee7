"""Time every up-sampler (2D and 3D) and same-size convolution at U-Net decoder shapes; writes JSON + Markdown.

Per layer: forward and forward + backward time, achieved GFLOP/s and % of the roofline's ceiling
(the faster of a torch.mm and a 3x3 convolution timed in the same rounds), ratios to the baselines,
tap overlap of the deconvolutions, checkerboard score at initialisation; the load average before
and after the run, with a warning when it was busy.

python scripts/bench_upsamplers.py --device cpu
python scripts/bench_upsamplers.py --device cuda --batch-size 8 --repeats 50
python scripts/bench_upsamplers.py --names pixeldcl3d pixelcl   # baselines are always added
python scripts/bench_upsamplers.py --names deconv:native ipixeldcl:fast   # other forms beside the defaults
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pixeldcn.benchmark import save_report
from pixeldcn.benchmark import upsamplers as bench
from pixeldcn.utils.timing import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    parser.add_argument(
        "--names",
        nargs="+",
        default=list(bench.ALL_NAMES),
        metavar="NAME[:IMPL]",
        help=f"layers to time, each optionally in another form (deconv:native); names: {', '.join(bench.ALL_NAMES)}",
    )
    parser.add_argument("--width", type=int, default=64, help="U-Net base width (paper: 64)")
    parser.add_argument("--size", type=int, default=256, help="U-Net input size (paper: 256)")
    parser.add_argument("--width-3d", type=int, default=16, help="UNet3D base width for the 3D up-samplers")
    parser.add_argument("--volume-size", type=int, default=64, help="UNet3D input side for the 3D up-samplers")
    parser.add_argument("--depth-3d", type=int, default=4, help="UNet3D depth (number of up-samplers)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--matmul-size",
        type=int,
        default=None,
        help="roofline torch.mm side, 4x its conv's channels (2048 CPU, 8192 GPU)",
    )
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/bench"))
    args = parser.parse_args()

    names = list(dict.fromkeys([*bench.baselines_for(args.names), *args.names]))
    report = bench.run(
        names,
        resolve_device(args.device),
        args.width,
        args.size,
        args.batch_size,
        args.warmup,
        args.repeats,
        width_3d=args.width_3d,
        volume_size=args.volume_size,
        depth_3d=args.depth_3d,
        matmul_size=args.matmul_size,
    )
    device = report["environment"]["device"].replace(":", "")
    save_report(args.out_dir, f"upsamplers_{device}", report, bench.to_markdown(report))


if __name__ == "__main__":
    main()
