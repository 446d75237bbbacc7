# The portal has no models of its own. This module exists because Django emits
# post_migrate only for apps with a models module, and portal/apps.py hooks the
# creation of the role groups onto it.
