"""Lab coverage: which numbered steps of a lab document (Markdown) the scenarios verify, by their tags.

``lab.py`` reads the document, ``tags.py`` the feature files and the "not verifiable from the API" mapping,
``table.py`` joins them, ``report.py`` renders the tables (terminal, summary.md, Allure).
"""
