"""Fault figures: migrations broken many times on scratch databases, then checked."""
