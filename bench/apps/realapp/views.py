"""The fortunes view: query every row through the ORM, add one in memory, sort by message,
render the HTML table (the template autoescapes)."""

from operator import attrgetter

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from realapp.models import Fortune

EXTRA = "Additional fortune added at request time."


def fortunes(request: HttpRequest) -> HttpResponse:
    """The sorted fortunes, one table row each."""
    rows = list(Fortune.objects.all())
    rows.append(Fortune(id=0, message=EXTRA))
    rows.sort(key=attrgetter("message"))
    return render(request, "realapp/fortunes.html", {"fortunes": rows})
