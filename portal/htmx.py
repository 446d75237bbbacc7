"""The htmx side of every page view, in one place.

Each page is one template; an htmx request that targets one of the page's named partials (the
id in HX-Target, a `{% partialdef %}` of the same name) gets that partial only, and every
other request the whole page. A successful htmx POST answers with HX-Location (htmx loads the
next page itself); a plain browser gets a redirect.

It sits below every app (policies, fleet and audits views import it; it imports nothing of
the project), so the layers contract lets the apps import it; see pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseLocation


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partials: tuple[str, ...] = (),
    status: int = 200,
) -> HttpResponse:
    """The page, or only the partial whose id an htmx request targets."""
    name = template
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted and htmx.target in partials:
        name = f"{template}#{htmx.target}"
    response = render(request, name, context, status=status)
    # The same URL answers with a page or a fragment: caches must key on the htmx headers.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def after_post(request: HttpRequest, url: str) -> HttpResponse:
    """After a successful POST: htmx loads `url` into the page; a plain browser is redirected."""
    if getattr(request, "htmx", None):
        return HttpResponseLocation(url)
    return HttpResponseRedirect(url)


def refusal_sentence(refusal: Exception) -> str:
    """A service's refusal as the sentence a page shows above its form: capitalised, ended."""
    text = str(refusal)
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
