"""Commands the framework prints for a user to paste: shell words quoted for the shell and for Hydra."""

from __future__ import annotations

import re
import shlex

# What Hydra's override grammar and a POSIX shell both take as a plain word.
_PLAIN = re.compile(r"[A-Za-z0-9_./+:@%-]+")
# Backslashes before a double quote or the end of the value, and that quote.
_QUOTE_OR_END = re.compile(r'(\\*)("|$)')


def override(key: str, value: object) -> str:
    """The shell word that makes Hydra set ``key`` to the string ``value`` (e.g. ``resume=<run dir>``).

    A value with characters either would read specially (``=``, ``,``, spaces, quotes, ``$``...) is
    quoted for Hydra (double quotes; backslashes before a quote or at the end doubled, as its
    grammar wants) and the whole word again for the shell.
    """
    text = str(value)
    if _PLAIN.fullmatch(text):
        return f"{key}={text}"
    escaped = _QUOTE_OR_END.sub(
        lambda match: match.group(1) * 2 + ("\\" + match.group(2) if match.group(2) else ""), text
    )
    return shlex.quote(f'{key}="{escaped}"')


def shell_command(*words: str) -> str:
    """``words`` joined into one command line, each quoted where the shell needs it."""
    return shlex.join(words)


def train_command(*overrides: str) -> str:
    """``python train.py <overrides>``, the overrides already made by :func:`override`."""
    return " ".join(["python train.py", *overrides])
