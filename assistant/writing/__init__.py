"""Writing help: prompt templates and personas as data files, writing actions
that work on text of any length, and change-by-change diffs.

API for other layers (the chat screen, the writing screen, the CLI):

- ``templates.load_library()`` -> ``PromptLibrary`` with ``.templates`` and
  ``.personas`` (bundled, overridden by name from the user's prompt folder).
- ``slash.parse_slash(line, library)`` -> ``SlashCommand`` (action, variables,
  text); ``slash.complete_slash(line, library)`` -> completion candidates.
- ``actions.ActionRunner(model, library).run(template, text, variables,
  persona, cancel)`` -> a stream of ``TextPiece`` / ``ActionProgress`` and one
  final ``ActionDone``. Blocking: call it from a worker thread.
- ``diffing.diff_texts(original, edited)`` -> ``TextDiff`` whose ``apply()``
  takes the accepted change indexes.

This package never imports textual; submodules are imported on demand.
"""
