import json
import re
import subprocess
import sys
from pathlib import Path

from django.contrib.staticfiles import finders

from accounts.roles import Role

ROOT = Path(__file__).resolve().parents[3]


def test_the_openapi_schema_generates_and_validates_without_warnings(tmp_path):
    schema = tmp_path / "schema.yaml"

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(schema),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    assert "/api/stacks/{stack}/publish/" in schema.read_text()


def test_a_signed_in_user_fetches_the_schema(client_for, make_user):
    client = client_for(make_user("audrey", Role.AUDITOR))

    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "AT-TLS portal API"
    assert "POST /api/token/" in schema["info"]["description"]
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    assert "/api/services/{uuid}/" in schema["paths"]


def test_the_schema_is_not_served_to_an_anonymous_caller(client_for, db):
    assert client_for(None).get("/api/schema/").status_code == 401


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files(client_for, make_user):
    client = client_for(make_user("audrey", Role.AUDITOR))

    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources == [
        "/static/favicon.svg",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/vendor/swagger-ui/index.css",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/api/docs/?script=",
    ]
    # Nothing inline for the CSP to refuse: every script has a src, no <style>, no style=.
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html
    assert "style=" not in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in script.content.decode()
    assert '"validatorUrl": null' in script.content.decode()
    for path in sources[:-1]:
        assert finders.find(path.removeprefix("/static/")), path


def test_the_vendored_swagger_ui_comes_with_its_licence():
    assert finders.find("vendor/swagger-ui/LICENSE")
    assert finders.find("vendor/swagger-ui/NOTICE")


def test_the_docs_send_an_anonymous_visitor_to_the_login_page(client_for, db):
    response = client_for(None).get("/api/docs/")

    assert response.status_code == 302
    assert response.url == "/login/?next=/api/docs/"
