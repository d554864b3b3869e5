"""The chat service: context assembly, trimming, streaming and persistence."""
