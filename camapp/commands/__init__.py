"""Subcommands. Each module has add_parser(subparsers) and sets args.handler(args) -> exit code."""

# Each command's module, and the line `camapp --help` shows for it. Only the module of the command
# being run is imported: importing all of them (OpenCV, pydantic, the model zoo, the bench) cost
# every invocation about 0.25 s, which a Pi Zero feels on each `camapp --help` or `doctor`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run a model on a camera, video, stream or images"),
    "models": ("models", "list, inspect, pull and verify models"),
    "teach": ("teach", "teach your own classes: add examples from a camera or video, build a classifier"),
    "bench": ("bench", "measure models and the pipeline on this device"),
    "service": ("service", "install, remove or show the systemd service"),
    "check-config": ("check_config", "validate a config file and print the effective config (secrets masked)"),
    "doctor": ("doctor", "check this machine (OS, Python, numpy, runtime, OpenCV, cameras, disk, memory, models) and say what to fix"),
}
IMAGE_COMMANDS = "images"  # one command per task in the registry: classify, detect
