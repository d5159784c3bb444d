"""Pages of commerce: taking and buying tiers, the customer's library and invoices, the
publisher's sales, the store team's orders, tax rates and revenue shares; and the payment
providers' webhooks."""

from django.urls import path

from portside.commerce import payment_views, sales_views, staff_views, views, webhooks

urlpatterns = [
    # customers
    path("products/<str:org>/<slug:slug>/tiers/<int:tier>/get", views.take_tier, name="take_tier"),
    path("checkout/<str:org>/<slug:slug>/<int:tier>/", views.checkout, name="checkout"),
    path("library/", views.library, name="library"),
    path("library/<int:pk>/", views.library_subscription, name="library_subscription"),
    path("library/<int:pk>/cancel", views.subscription_cancel, name="subscription_cancel"),
    path("billing/", views.billing_home, name="billing_home"),
    path("billing/invoices/<str:number>/", views.invoice_detail, name="invoice_detail"),
    path("billing/orders/<int:pk>/pay", payment_views.order_pay, name="order_pay"),
    path("billing/orders/<int:pk>/return", payment_views.order_return, name="order_return"),
    path("billing/invoices/<str:number>/pdf", views.invoice_pdf, name="invoice_pdf"),
    # publishers
    path("orgs/<str:name>/sales/", sales_views.sales, name="sales"),
    path(
        "orgs/<str:name>/sales/orders/<int:pk>/refund",
        sales_views.order_refund,
        name="order_refund",
    ),
    path(
        "orgs/<str:name>/sales/orders/<int:pk>/paid",
        sales_views.publisher_mark_paid,
        name="publisher_mark_paid",
    ),
    # the store team
    path("staff/commerce/", staff_views.staff_orders, name="staff_orders"),
    path("staff/commerce/orders/<int:pk>/", staff_views.staff_order, name="staff_order"),
    path(
        "staff/commerce/orders/<int:pk>/paid", staff_views.staff_mark_paid, name="staff_mark_paid"
    ),
    path("staff/commerce/orders/<int:pk>/refund", staff_views.staff_refund, name="staff_refund"),
    path("staff/commerce/tax-rates/", staff_views.tax_rates, name="tax_rates"),
    path("staff/commerce/revenue-share/", staff_views.revenue_shares, name="revenue_shares"),
    path("staff/commerce/ledger/", staff_views.ledger_page, name="ledger_page"),
    # payment providers
    path("webhooks/stripe", webhooks.stripe_webhook, name="stripe_webhook"),
]
