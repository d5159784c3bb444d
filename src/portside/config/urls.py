from django.urls import include, path

from portside.accounts import views as accounts
from portside.api.urls import api
from portside.audit import views as audit
from portside.core import media
from portside.core import views as core
from portside.registry import pages as registry_pages
from portside.scanning import pages as scanning_pages
from portside.storefront import views as storefront

urlpatterns = [
    path("", storefront.home, name="home"),
    path("media/<path:name>", media.serve, name="media"),
    path("health", core.health, name="health"),
    path("accounts/", include("allauth.urls")),
    path("orgs/", accounts.organization_list, name="organization_list"),
    path("orgs/<str:name>/", accounts.organization_detail, name="organization_detail"),
    path("orgs/<str:name>/invite", accounts.organization_invite, name="organization_invite"),
    path(
        "orgs/<str:name>/members/<str:username>/role",
        accounts.membership_role,
        name="membership_role",
    ),
    path(
        "orgs/<str:name>/members/<str:username>/remove",
        accounts.membership_remove,
        name="membership_remove",
    ),
    path(
        "orgs/<str:name>/invitations/<int:pk>/revoke",
        accounts.invitation_revoke,
        name="invitation_revoke",
    ),
    path("orgs/<str:name>/repositories/", registry_pages.repository_list, name="repository_list"),
    path(
        "orgs/<str:name>/repositories/<path:repository>",
        registry_pages.repository_detail,
        name="repository_detail",
    ),
    path("orgs/<str:name>/scans/request", scanning_pages.scan_request, name="scan_request"),
    path("orgs/<str:name>/scans/<int:pk>/", scanning_pages.scan_detail, name="scan_detail"),
    path(
        "orgs/<str:name>/scans/<int:pk>/sbom/<str:kind>",
        scanning_pages.scan_sbom,
        name="scan_sbom",
    ),
    path(
        "orgs/<str:name>/scans/<int:pk>/findings/<int:finding>/reclassify",
        scanning_pages.finding_reclassify,
        name="finding_reclassify",
    ),
    path("invitations/<str:secret>/", accounts.accept_invitation, name="accept_invitation"),
    path("settings/tokens/", accounts.token_list, name="token_list"),
    path("settings/tokens/<int:pk>/revoke", accounts.token_revoke, name="token_revoke"),
    path("staff/audit/", audit.audit_list, name="audit_list"),
    path("staff/audit/export.csv", audit.audit_export_csv, name="audit_export_csv"),
    path("staff/audit/export.jsonl", audit.audit_export_jsonl, name="audit_export_jsonl"),
    path("staff/deliveries/", core.deliveries, name="deliveries"),
    path(
        "staff/vulnerability-data/",
        scanning_pages.vulnerability_data,
        name="vulnerability_data",
    ),
    path(
        "staff/vulnerability-data/sync",
        scanning_pages.vulnerability_data_sync,
        name="vulnerability_data_sync",
    ),
    path("staff/deliveries/<str:delivery_id>/retry", core.delivery_retry, name="delivery_retry"),
    path("api/", api.urls),
    path("", include("portside.publishers.urls")),
    path("", include("portside.catalog.urls")),
    path("", include("portside.moderation.urls")),
    path("", include("portside.storefront.urls")),
    path("", include("portside.commerce.urls")),
    path("", include("portside.policy.urls")),
    path("", include("portside.notifications.urls")),
    path("", include("portside.registry.urls")),
]
