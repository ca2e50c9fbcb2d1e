"""Wires the step vocabulary into a checkout (the vmconform plugin itself loads by entry point)."""

pytest_plugins = [
    "steps.vm_lifecycle",
    "steps.vm_state",
    "steps.migration",
    "steps.storage",
    "steps.guest",
]
