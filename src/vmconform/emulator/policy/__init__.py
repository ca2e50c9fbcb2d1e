"""kube-apiserver's and kube-controller-manager's policy/v1 side: PodDisruptionBudget status
(:mod:`.disruption`) and the pods' Eviction subresource (:mod:`.eviction`)."""

from __future__ import annotations
