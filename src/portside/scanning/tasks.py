from django.tasks import task

from portside.scanning import services


@task()
def run_scan(scan_id: int) -> str:
    return str(services.run(scan_id=scan_id).status)


@task()
def rematch_all() -> dict[str, int]:
    return services.rematch_all()
