"""Wires the step vocabulary into a checkout (the vmconform plugin itself loads by entry point)."""

from vmconform.stepcheck import STEP_MODULES

pytest_plugins = list(STEP_MODULES)
