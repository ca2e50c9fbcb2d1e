"""Tests of the emulated cluster's Kubernetes API core, through real HTTPS clients."""
