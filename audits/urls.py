"""The audits pages under /audits/ and their API under /audits/api/; packs by UUID."""

from django.urls import include, path

from audits import views
from audits.api import urls as api_urls

app_name = "audits"

urlpatterns = [
    path("", views.index, name="index"),
    path("assessments/<uuid:assessment>/pack/", views.assessment_pack, name="assessment-pack"),
    path("packs/<uuid:pack>/", views.pack_detail, name="pack"),
    path("packs/<uuid:pack>/<str:kind>/", views.pack_download, name="pack-download"),
    path("verify/", views.verify, name="verify"),
    path("log/", views.audit_log, name="log"),
    path("log/chain/", views.audit_log_chain, name="log-chain"),
    path("api/", include(api_urls.urlpatterns)),
]
