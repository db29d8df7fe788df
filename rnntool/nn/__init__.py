"""torch modules (imported only by the commands that train or run on a GPU)."""
