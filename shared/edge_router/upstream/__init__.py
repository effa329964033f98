"""Upstream transport: the aiohttp client and its error translation."""
