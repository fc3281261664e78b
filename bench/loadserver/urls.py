"""Every ketaclinic route, plus POST /bench/insert: one row into a table of its own, nothing else.

The reference for writes in bench/load.py: what any insert through this stack costs.
"""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from ketaclinic.urls import urlpatterns as app_patterns


@csrf_exempt
def insert(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_row (at, body) VALUES (%s, %s)",
            [timezone.now(), request.body[:200].decode()],
        )
    return HttpResponse(status=201)


urlpatterns = [path("bench/insert", insert), *app_patterns]
