"""KEY VALUE config overrides on a tool's command line. Options may come before, between or after them, as users
of other command-line tools expect (``toplight-test data.root X --weights last.pth``)."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE", help=f"config overrides, e.g. {example}")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Options anywhere; every other word is an override (``-1`` included: no option looks like a number)."""
    return parser.parse_intermixed_args(argv)
