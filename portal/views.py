from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    # The fleet summary arrives with the fleet app; until then it is always empty.
    return render(request, "portal/dashboard.html", {"lpars": []})
