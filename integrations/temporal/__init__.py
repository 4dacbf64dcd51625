"""Temporal as medic's clients use it: connecting, search attributes, and operations on incidents."""
