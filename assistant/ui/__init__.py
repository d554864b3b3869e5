"""The Textual terminal UI; the only package that imports textual.

Nothing here is imported by the core: ``assistant.cli`` imports
``assistant.ui.app`` inside the command that opens the UI.
"""
