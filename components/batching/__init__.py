"""Batching: decode, impute, encode, normalize, shuffle globally and write mini-batches on Beam."""
