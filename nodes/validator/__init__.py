"""Validator: periodic accuracy on validation digits with the learner's current weights."""
