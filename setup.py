"""Package list for setuptools (everything else is in pyproject.toml).

models/ (manifest.yaml and labels/) lives at the top of the repository, where users and the
mirror docs point, and ships inside the wheel as the data-only package camapp.bundled_models;
camapp.models.manifest.manifest_path() falls back to it when there is no checkout.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["camapp", "camapp.*"]), "camapp.bundled_models"],
    package_dir={"camapp.bundled_models": "models"},
)
