from django.tasks import task

from portside.catalog import search


@task()
def refresh_popularity() -> int:
    return search.refresh_popularity()
