"""The paper's Table 2 protocol on synthetic tensors: whole models trained and predicting, per up-sampler.

    python scripts/benchmark.py --device cpu --model unet --width 16 --size 64 --iters 3
    python scripts/benchmark.py --device cuda --model unet            # the paper's width 64 at 256x256
    python scripts/benchmark.py --model vae --size 64 --width 32 --names deconv6 pixeldcl resize_nearest

Prints a K40-style table extrapolated to the paper's workload (10,000 iterations, 2109 images),
ratios to deconv6 (the paper's DCL) and deconv, the paper's ratios beside them, and each model's
multiply-accumulates per image; writes JSON + Markdown under outputs/bench/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from pixeldcn.benchmark import models as bench
from pixeldcn.benchmark import save_report
from pixeldcn.upsamplers import UPSAMPLERS
from pixeldcn.utils.timing import resolve_device

TRAINER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "trainer" / "default.yaml"
PAPER_NAMES = ["deconv6", "deconv", "ipixeldcl", "pixeldcl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    parser.add_argument("--model", default="unet", choices=bench.MODELS)
    parser.add_argument("--names", nargs="+", default=PAPER_NAMES, choices=list(UPSAMPLERS), metavar="UPSAMPLER")
    parser.add_argument("--width", type=int, default=64, help="base width (U-Net paper: 64; VAE: 32)")
    parser.add_argument("--size", type=int, default=256, help="input height and width (paper: 256; VAE: 64)")
    parser.add_argument("--depth", type=int, default=101, help="DeepLab-ResNet depth (18/34/50/101)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help=f"default: trainer.batch_size of {TRAINER_CONFIG.name}"
    )
    parser.add_argument("--iters", type=int, default=5, help="timed training iterations and prediction batches")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--train-iterations", type=int, default=10_000, help="workload the training time is extrapolated to"
    )
    parser.add_argument(
        "--predict-images", type=int, default=2109, help="workload the prediction time is extrapolated to"
    )
    parser.add_argument("--amp", action="store_true", help="autocast (fp16 on CUDA, bf16 on CPU)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model")
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/bench"))
    args = parser.parse_args()

    batch_size = args.batch_size or OmegaConf.load(TRAINER_CONFIG).batch_size
    setup = bench.Setup(
        model=args.model, width=args.width, size=args.size, batch_size=batch_size, depth=args.depth,
        amp=args.amp, channels_last=args.channels_last, compile=args.compile,
    )  # fmt: skip
    names = list(dict.fromkeys([*bench.BASELINES, *args.names]))
    workload = bench.Workload(args.train_iterations, args.predict_images)
    report = bench.run(setup, names, resolve_device(args.device), args.iters, args.warmup, workload)
    device = report["environment"]["device"].replace(":", "")
    save_report(args.out_dir, f"{args.model}_{device}_w{args.width}_s{args.size}", report, bench.to_markdown(report))


if __name__ == "__main__":
    main()
