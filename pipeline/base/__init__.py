"""The base layer: configuration, the message schema, the schedule, the data. Imports nothing of byob above it."""
