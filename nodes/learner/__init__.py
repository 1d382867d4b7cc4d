"""Local plasticity: spike rasters in, weight updates out."""
