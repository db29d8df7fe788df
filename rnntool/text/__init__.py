"""Text handling: reading inputs, tokenizing, vocabularies, prepared corpora."""
