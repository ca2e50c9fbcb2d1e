"""Cluster access through the official ``kubernetes`` client: reads, writes, subresources, watches, waits."""
