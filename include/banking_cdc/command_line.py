"""What the package's command-line tools share (``python -m banking_cdc.generator``, ``... .reconcile``)."""

from __future__ import annotations

import argparse


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """
    An argument parser whose epilog keeps its line breaks (exit codes, examples).

    :param prog: The command as a user types it.
    :param description: What the command does, one paragraph.
    :param epilog: Text printed after the options, as written.
    """
    return argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
