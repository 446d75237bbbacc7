"""No tables of its own: roles are Django groups.

The module exists so that Django sends post_migrate for this app (see apps.py).
"""
