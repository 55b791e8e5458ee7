"""Train or evaluate a model: ``python train.py [group=option ...] [key=value ...]``.

Examples: ``python train.py`` (the CPU demo), ``python train.py experiment=table1_voc_unet
dataset.root=/data upsampler=deconv``, ``python train.py -m upsampler=deconv,pixeldcl``,
``python train.py mode=eval ckpt_path=outputs/.../best.pt``, ``python train.py resume=outputs/...``.
See configs/train.yaml and pixeldcn/run.py.
"""

import os
import sys
from pathlib import Path

from pixeldcn.help_page import completions, help_text, wants_help

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# `--help` and completing `group=` need only configs/'s directories: answered before Hydra is
# imported and composes everything (seconds per TAB).
if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        sys.exit(print(help_text(CONFIG_DIR)))
    if (answer := completions(CONFIG_DIR, sys.argv[1:], os.environ)) is not None:
        sys.exit(print(answer))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

# Registers the resolvers and the schema's defaults that composing configs/train.yaml needs. Module
# globals (rather than imports inside main) make launcher workers that unpickle main import them.
# They import no torch: shell completion of keys answers before anything heavy is loaded.
import pixeldcn.config  # noqa: E402, F401
from pixeldcn.config.launchers import launcher_plugin_problem  # noqa: E402
from pixeldcn.config.schema import override_problem  # noqa: E402


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    from pixeldcn import run  # the engine and torch: only once Hydra has a job to run

    return run.main(cfg)


if __name__ == "__main__":
    # Checked before Hydra, whose own messages for these name no remedy.
    if problem := launcher_plugin_problem(sys.argv[1:]) or override_problem(sys.argv[1:]):
        sys.exit(problem)
    main()
