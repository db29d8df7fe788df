"""Models that ship with rnntool: the files are package data; rnntool.kinds names them
(see corpora/README.md for how each was made)."""
