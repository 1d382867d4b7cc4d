"""Wiring, schema, configuration, launcher and command line of Build Your Own Brain."""
