"""Search your own notes: folders synced into a hybrid (FTS5 + FAISS) index.

The one door for everything else (CLI, UI, chat grounding) is
``assistant.notes.service.NotesService``; the modules beside it are its parts.
Importing this package is cheap: torch, faiss and sentence-transformers load
only when something is embedded or searched.
"""
