"""URLs of the publishers' product pages (included at the site root by config/urls.py)."""

from django.urls import path

from portside.catalog import views

_P = "orgs/<str:name>/products/<slug:slug>/"

urlpatterns = [
    path("orgs/<str:name>/products/", views.product_list, name="product_list"),
    path(_P, views.product_edit, name="product_edit"),
    path(_P + "icon", views.product_icon, name="product_icon"),
    path(_P + "screenshots", views.screenshot_add, name="screenshot_add"),
    path(_P + "screenshots/<int:pk>/remove", views.screenshot_remove, name="screenshot_remove"),
    path(_P + "sources", views.source_set, name="source_set"),
    path(_P + "sources/<int:pk>/remove", views.source_remove, name="source_remove"),
    path(_P + "tiers", views.tier_save, name="tier_add"),
    path(_P + "tiers/<int:pk>", views.tier_save, name="tier_save"),
    path(_P + "tiers/<int:pk>/delete", views.tier_delete, name="tier_delete"),
    path(_P + "unpublish", views.product_unpublish, name="product_unpublish"),
    path(_P + "delete", views.product_delete, name="product_delete"),
    path(_P + "revisions/<int:number>/", views.revision_detail, name="revision_detail"),
]
