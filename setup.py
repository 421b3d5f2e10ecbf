"""Package layout that pyproject.toml cannot express: ship ``models/`` as ``wmark/models_data``.

The weights live in the repository's top-level ``models/`` folder. In a wheel they are
installed inside the package as ``wmark/models_data/`` (where ``wmark.zoo`` looks);
an editable install finds them in ``models/`` beside the package. Before any weights
exist (no ``models/`` folder) the mapping is left out.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
# Namespace-aware so that a subpackage folder without __init__.py is not dropped.
packages = find_namespace_packages(include=["wmark", "wmark.*"], exclude=["*.__pycache__"])
package_dir = {}
if (HERE / "models").is_dir():
    packages.append("wmark.models_data")
    package_dir["wmark.models_data"] = "models"

setup(packages=packages, package_dir=package_dir)
