"""Single sign-on: OpenID Connect (oidc.py) and LDAP / Active Directory (ldap.py).

Each is switched on by the environment (portal/settings.py, "Single sign-on"), and each hands
what the directory said to accounts.services.directory_user_sign_in, which finds the portal
user by the directory's unique id and sets roles and services from the directory-group mapping.
Local accounts (django's ModelBackend) stay for break-glass.
"""
