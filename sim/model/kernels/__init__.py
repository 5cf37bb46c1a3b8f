"""Compiled (numba) inner loops of the model.

Each compiled kernel here and in the model's modules (demand, labs) and the tables has a
plain-numpy twin in its tests (``tests/test_kernels_*.py``): the same result stated the plain
way, which hypothesis property tests hold the kernel to, bit for bit, on random inputs.
"""
