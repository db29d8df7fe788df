"""Models that ship with rnntool (see rnntool/corpora/README.md for how they were made)."""

from pathlib import Path

BUNDLED_LM = Path(__file__).with_name("shakespeare-char.safetensors")
BUNDLED_TAGGER = Path(__file__).with_name("en-ewt-upos.safetensors")
