"""The kind backend (``--cluster kind``): a multi-node kind cluster with KubeVirt and RWX storage.

``backend.kind_kubeconfig`` is what the controller calls; ``prereq.PrerequisiteMissing`` is the one-line
"cannot run on kind" error (exit code 5); ``options.add_kind_options`` adds the backend's pytest options.
"""
