"""The model: one module per mechanism of DESIGN section 3, and the replication that runs
them on one SimPy clock. Compiled inner loops live in :mod:`sim.model.kernels`.
"""
