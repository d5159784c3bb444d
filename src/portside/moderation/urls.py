"""URLs of the review (included at the site root by config/urls.py)."""

from django.urls import path

from portside.moderation import views

urlpatterns = [
    path("staff/reviews/", views.queue, name="review_queue"),
    path("staff/listings/", views.listing_admin, name="listing_admin"),
    path(
        "staff/listings/<str:name>/<slug:slug>/take-down",
        views.listing_take_down,
        name="listing_take_down",
    ),
    path(
        "orgs/<str:name>/products/<slug:slug>/submit", views.product_submit, name="product_submit"
    ),
    path("reviews/<int:pk>/", views.submission_detail, name="submission_detail"),
    path("reviews/<int:pk>/take", views.submission_take, name="submission_take"),
    path("reviews/<int:pk>/assign", views.submission_assign, name="submission_assign"),
    path(
        "reviews/<int:pk>/request-changes",
        views.submission_request_changes,
        name="submission_request_changes",
    ),
    path("reviews/<int:pk>/approve", views.submission_approve, name="submission_approve"),
    path("reviews/<int:pk>/reject", views.submission_reject, name="submission_reject"),
    path("reviews/<int:pk>/publish", views.submission_publish, name="submission_publish"),
    path("reviews/<int:pk>/comment", views.submission_comment, name="submission_comment"),
]
