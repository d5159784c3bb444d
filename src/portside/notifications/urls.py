from django.urls import path

from portside.notifications import views

_W = "orgs/<str:name>/notifications/webhooks/<int:pk>/"

urlpatterns = [
    path("settings/notifications/", views.settings_page, name="notification_settings"),
    path(
        "notifications/unsubscribe/<str:token>",
        views.unsubscribe,
        name="notification_unsubscribe",
    ),
    path("orgs/<str:name>/notifications/", views.organization_page, name="org_notifications"),
    path(_W + "edit", views.endpoint_edit, name="webhook_edit"),
    path(_W + "test", views.endpoint_test, name="webhook_test"),
    path(_W + "rotate", views.endpoint_rotate, name="webhook_rotate"),
    path(_W + "delete", views.endpoint_delete, name="webhook_delete"),
]
