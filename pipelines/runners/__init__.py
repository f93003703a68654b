"""Runners: each adds only what differs per environment and calls the one factory."""
