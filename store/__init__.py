"""Persistence: model files and their registry."""
