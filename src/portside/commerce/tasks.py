from django.tasks import task

from portside.commerce import renewals


@task()
def run_renewals() -> dict[str, int]:
    outcome = renewals.run_due()
    return {name: len(ids) for name, ids in vars(outcome).items()}
