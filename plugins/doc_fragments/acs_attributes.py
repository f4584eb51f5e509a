# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Attributes shared by the project's modules (extends_documentation_fragment:
acs_attributes.read_only), as community.docker's ``attributes`` fragment."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
"""

    # A module that only reads: it runs in check mode too and changes nothing.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs in check mode too.
  diff_mode:
    support: none
"""
