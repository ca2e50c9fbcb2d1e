"""Fault profiles: the suite catches every broken cluster in exactly the scenarios of the table."""
