"""Axonal delays: each input channel shifted by its own number of steps, against a
hand-made example, on either time axis."""

import numpy as np

from nodes.network.delays import delayed_inputs


def test_each_channel_arrives_its_own_delay_later_and_spikes_past_the_end_are_lost():
    spikes = np.zeros((1, 6, 3), bool)
    spikes[0, 0, 0] = spikes[0, 1, 1] = spikes[0, 4, 2] = spikes[0, 2, 0] = True
    delay = np.array([0, 2, 3])  # channel 2's spike at step 4 would arrive at 7: gone
    out = np.asarray(delayed_inputs(spikes, delay))
    want = np.zeros_like(spikes)
    want[0, 0, 0] = want[0, 2, 0] = want[0, 3, 1] = True
    assert np.array_equal(out, want)
    # time-major (T, B, n) gives the same, and a delay longer than the sample empties it
    tm = np.asarray(delayed_inputs(np.swapaxes(spikes, 0, 1), delay, time_axis=0))
    assert np.array_equal(np.swapaxes(tm, 0, 1), want)
    assert not np.asarray(delayed_inputs(spikes, np.array([9, 9, 9]))).any()
