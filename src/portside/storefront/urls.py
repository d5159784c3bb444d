"""URLs of the storefront context (included at the site root by config/urls.py, which
also routes the home page to ``views.home``)."""

from django.urls import path

from portside.storefront import views

urlpatterns = [
    path("search", views.search_page, name="search"),
    path("products/<str:org>/<str:slug>", views.product_detail, name="product_detail"),
    path("publishers/<str:org>", views.publisher_detail, name="publisher_detail"),
    path("categories/<slug:slug>", views.category_detail, name="category_detail"),
]
