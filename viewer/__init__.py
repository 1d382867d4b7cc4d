"""The live viewer: a Panel app attached to the monitoring bus or replaying a recorded run.

``state`` (a pure model of the bus), ``feed`` (the one subscriber per server),
``panels`` and ``app`` (the page), ``serve`` (``byob view``, ``python -m viewer``).
"""
