"""pytest-bdd step vocabulary of the lab, grouped by subject. Steps are thin: the library does the work."""
