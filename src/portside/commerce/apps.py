from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "portside.commerce"
    label = "commerce"
    verbose_name = "Commerce"

    def ready(self) -> None:
        from portside.accounts import permissions
        from portside.commerce import subscribers, tasks
        from portside.commerce.entitlements import StoreEntitlements
        from portside.core import events, schedule

        # The one door for "may this customer pull": accounts.permissions asks here.
        permissions.use_entitlements(StoreEntitlements())
        events.subscribe("registry:pulls:recorded", subscribers.record_customer_pulls)
        # Periods end at any hour; renewals, retries and reminders are looked at hourly.
        schedule.hourly("commerce.renewals", tasks.run_renewals.enqueue)
