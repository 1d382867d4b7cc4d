"""Poisson encoder: pixels in, input spike trains out."""
