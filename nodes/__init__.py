"""The nodes of the pipeline: each a pure core plus a thin process shell."""
