"""The documented exit codes of ``vmconform``."""

from __future__ import annotations

CONFORMANT = 0  # every behaviour verified
NOT_CONFORMANT = 1  # at least one behaviour violated
INCOMPLETE = 2  # nothing violated, something not verified
CLUSTER_UNCHECKABLE = 3  # the cluster could not be reached / authenticated / has no KubeVirt
USAGE = 4  # bad command line or option value
PREREQUISITE_MISSING = 5  # e.g. kind without docker
INTERNAL_ERROR = 6  # the suite itself failed: verdict "error"
INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM 143, SIGHUP 129: 128 + the signal's number
