"""``train.py --help`` and shell completion of ``group=option``, answered from ``configs/`` alone.

Hydra composes the whole configuration (seconds) before it prints its help page or completes a
word; both questions only need the config groups, which are the directories of ``configs/``. This
module reads them with the standard library and PyYAML (Hydra's own dependency), so ``train.py``
answers before importing Hydra. Everything else (``--cfg``, ``--info``, ``--hydra-help``, completion
of ``key.`` paths) still goes to Hydra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

HEADER = """\
python train.py [group=option ...] [key=value ...]: train or evaluate a model (pixeldcn).
Examples: python train.py debug=smoke; python train.py -m upsampler=deconv,pixeldcl;
python train.py mode=eval ckpt_path=<run dir>/best.pt; python train.py resume=<run dir>"""

FOOTER = """\
== Config ==
Override anything in the config (foo.bar=value). To see it composed:
python train.py --cfg job [group=option ...]   the configuration a run with those choices gets
python train.py --cfg hydra                    Hydra's own settings (run directories, launcher)
python train.py --hydra-help                   Hydra's command-line options (-m, --info, -sc, ...)"""

HELP_FLAGS = ("--help", "-h")


@dataclass(frozen=True)
class ConfigGroup:
    """A directory of ``configs/`` holding options (``upsampler``, ``model/decoder_conv``)."""

    name: str
    options: tuple[str, ...]
    default: str | None  # train.yaml's choice, for the groups it chooses


def _selection(entry: object) -> tuple[str, str | None] | None:
    """A ``defaults:`` entry of train.yaml as ``(group, option)``; None for config names like ``_self_``."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    ((key, option),) = entry.items()
    group = str(key).split()[-1].split("@")[0]  # `optional debug_model@model` -> debug_model
    return group, None if option is None else str(option)


def _options(directory: Path) -> list[str]:
    """The options of a config group: its YAML files' names."""
    return sorted(path.stem for path in directory.glob("*.yaml"))


def _train_defaults(config_dir: Path) -> dict[str, str | None]:
    """``train.yaml``'s defaults list as ``{group: option}``."""
    train = yaml.safe_load((config_dir / "train.yaml").read_text())
    return dict(selection for entry in train.get("defaults", []) if (selection := _selection(entry)))


def config_groups(config_dir: Path) -> list[ConfigGroup]:
    """The groups a user chooses on the command line, sorted by path.

    A top-level group is the user's when ``train.yaml`` selects it by a plain option (or ``null``);
    groups it selects by interpolation (``dataset_model: ${dataset}_${model}``, Hydra's
    specialisation pattern), groups it never selects (chosen by other configs) and Hydra's own
    ``hydra/`` are internal, and left out.
    """
    defaults = _train_defaults(config_dir)
    chosen_by_user = {group for group, option in defaults.items() if option is None or "${" not in option}
    chosen_by_user.discard("hydra")
    groups = []
    for directory in sorted(path for path in config_dir.rglob("*") if path.is_dir()):
        name = directory.relative_to(config_dir).as_posix()
        options = tuple(_options(directory))
        if options and name.split("/")[0] in chosen_by_user:
            groups.append(ConfigGroup(name, options, defaults.get(name)))
    return groups


def schema_groups(config_dir: Path) -> list[str]:
    """The groups ``train.yaml`` selects that have no directory: the schema's (``trainer``, ``eval``, ...)."""
    return [
        group
        for group, option in _train_defaults(config_dir).items()
        if option and "${" not in option and not (config_dir / group).is_dir()
    ]


def help_text(config_dir: Path) -> str:
    """The page ``python train.py --help`` prints."""
    lines = [
        HEADER,
        "",
        "== Configuration groups ==",
        "Compose your configuration from those groups (group=option; logger=[tensorboard,csv] takes several)",
        "",
    ]
    for group in config_groups(config_dir):
        default = f"  [default: {group.default}]" if group.default else ""
        lines.append(f"{group.name}: {', '.join(group.options)}{default}")
    schema = ", ".join(schema_groups(config_dir))
    lines.append(f"{schema}: typed settings (trainer.max_epochs=5), documented in pixeldcn/config/schema.py")
    return "\n".join([*lines, "", FOOTER])


def wants_help(argv: list[str]) -> bool:
    """Whether Hydra would print its (application) help page for these arguments."""
    return any(argument in HELP_FLAGS for argument in argv)


def completions(config_dir: Path, argv: list[str], environ: dict[str, str] | os._Environ) -> str | None:
    """The answer to ``-sc query=bash|zsh|fish`` when the word being completed is ``group=<prefix>``.

    None for every other question (keys, group names, files), which Hydra answers by composing.
    """
    shell = next((arg.removeprefix("query=") for arg in argv if arg.startswith("query=")), None)
    line = environ.get("COMP_LINE", "")
    if shell not in ("bash", "zsh", "fish") or "-sc" not in argv or not line or line.endswith(" "):
        return None
    word = line.split()[-1]
    prefix = word[0] if word[0] in "+~" else ""
    group, equals, partial = word.removeprefix(prefix).rpartition("=")
    directory = config_dir / group
    if not equals or not group or any(char in partial for char in "[,") or not directory.is_dir():
        return None
    options = [option for option in _options(directory) if option.startswith(partial)]
    if not options:
        return None
    return ("\n" if shell == "fish" else " ").join(f"{prefix}{group}={option}" for option in options)
