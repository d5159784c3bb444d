from django.urls import path, re_path

from portside.registry import views

_NAME = r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"

urlpatterns = [
    path("auth/token", views.token, name="registry_token"),
    re_path(r"^v2/$", views.base, name="registry_base"),
    re_path(r"^v2/_catalog$", views.catalog, name="registry_catalog"),
    re_path(rf"^v2/{_NAME}/tags/list$", views.tags_list, name="registry_tags"),
    re_path(
        rf"^v2/{_NAME}/manifests/(?P<reference>[^/]+)$", views.manifest, name="registry_manifest"
    ),
    re_path(rf"^v2/{_NAME}/blobs/uploads/$", views.upload_start, name="registry_upload_start"),
    re_path(
        rf"^v2/{_NAME}/blobs/uploads/(?P<upload_id>[^/]+)$", views.upload, name="registry_upload"
    ),
    re_path(rf"^v2/{_NAME}/blobs/(?P<digest>[^/]+)$", views.blob, name="registry_blob"),
    re_path(
        rf"^v2/{_NAME}/referrers/(?P<digest>[^/]+)$", views.referrers, name="registry_referrers"
    ),
    re_path(r"^v2/(?P<rest>.*)$", views.name_invalid, name="registry_fallback"),
]
