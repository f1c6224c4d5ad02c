"""The merchant's shop settings."""
