"""Package layout that pyproject.toml alone cannot express: the top-level
``prompts/`` and ``data/`` folders install as ``assistant.bundled_prompts`` and
``assistant.sample_notes``, found at run time with importlib.resources."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["assistant", "assistant.*"])
    + ["assistant.bundled_prompts", "assistant.sample_notes"],
    package_dir={"assistant.bundled_prompts": "prompts", "assistant.sample_notes": "data"},
    package_data={
        "assistant": [
            "ui/*.tcss",
            "store/migrations/*.py",
            "store/migrations/*.mako",
            "store/migrations/versions/*.py",
        ],
        "assistant.bundled_prompts": ["**/*"],
        "assistant.sample_notes": ["**/*"],
    },
    include_package_data=False,
)
