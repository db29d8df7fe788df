"""numpy inference: recurrent cells with torch's weight layouts, language-model
stepping, sampling, tagging. Nothing here imports torch."""
