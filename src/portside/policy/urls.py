"""The policy context's pages: the publisher's security workspace, VEX statements, and
the security team's console; each module keeps its own routes."""

from portside.policy import console_views, vex_views, workspace_views

urlpatterns = [
    *workspace_views.urlpatterns,
    *vex_views.urlpatterns,
    *console_views.urlpatterns,
]
