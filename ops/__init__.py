"""Runs the operations playbooks through ansible-runner (used by CI and on-call)."""
