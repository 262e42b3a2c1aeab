"""The simulator behind :class:`hwgpt.Benchmark`'s noisy observations and simulated time.

* :mod:`hwgpt.simulation.draws`: keyed random draws (a draw's uniform is a hash of its key);
* :mod:`hwgpt.simulation.cache`: the per-surrogate quantile cache and the draws interpolated in it;
* :mod:`hwgpt.simulation.protocol`: the measurement protocol that simulated seconds follow.

:class:`hwgpt.Benchmark` (:mod:`hwgpt.benchmark`) is the facade over them.
"""
