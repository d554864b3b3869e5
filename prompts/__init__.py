"""Bundled prompt templates and personas (data files).

Installed as ``assistant.bundled_prompts``; read with importlib.resources."""
