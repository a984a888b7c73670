"""Adapters to host toolboxes; only these modules import a host."""
