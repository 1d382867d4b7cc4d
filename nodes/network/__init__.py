"""The BrainPy network: LIF layers, exponential synapses with delays, inhibition."""
