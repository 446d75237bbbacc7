import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

# Import every view now, not at the first request: Django loads the URLconf (and with it the
# views, the probe, PDF and signing libraries) lazily, which took seconds on each worker's first
# request. gunicorn loads this module once in its master (preload_app, deploy/gunicorn.conf.py),
# so every worker, including one started to replace another, is forked ready.
from django.urls import get_resolver  # noqa: E402 - after the application sets Django up

get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
