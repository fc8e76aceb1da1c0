"""Command-line entry point."""

import sys


def main(argv=None):
    argv = argv or sys.argv[1:]
    if not argv:
        print("usage: shop COMMAND")
        return 2
    return 0
