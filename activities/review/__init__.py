"""The change review: find the affected Applications, review the change, publish it."""
