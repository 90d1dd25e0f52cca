"""Readers (and writers) of other tools' files: results computed elsewhere show up in a run."""
