"""Upstream health shared across regions: records, the store port and its implementations."""
