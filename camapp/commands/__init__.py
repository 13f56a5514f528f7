"""Subcommands. Each module has add_parser(subparsers) and sets args.handler(args) -> exit code."""
