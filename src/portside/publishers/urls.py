"""URLs of the publishers context (included at the site root by config/urls.py)."""

from django.urls import path

from portside.publishers import views

urlpatterns = [
    path("orgs/<str:name>/profile/", views.profile, name="publisher_profile"),
    path("orgs/<str:name>/profile/logo", views.logo, name="publisher_logo"),
    path(
        "orgs/<str:name>/profile/verify-email",
        views.send_verification,
        name="publisher_send_verification",
    ),
    path("publisher-email/<str:secret>/", views.verify_email, name="publisher_email_verify"),
]
