"""The legacy site's pages: a home page and a contact form (GET shows it, POST echoes it back),
and one JSON endpoint under ``/api/`` that the FastAPI service has not ported yet (``report``:
``migration/`` in this example moves it)."""

from django.http import Http404, JsonResponse
from django.shortcuts import render

from legacy.contact.forms import ContactForm


def home(request):
    return render(request, "contact/home.html")


def contact(request):
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            return render(request, "contact/thanks.html", {"data": form.cleaned_data})
    else:
        form = ContactForm()
    return render(request, "contact/form.html", {"form": form})


def report(request, report_id):
    """``/api/reports/<id>``: answered by Django while FastAPI has no such route (amphicorn's
    fallback replays FastAPI's 404 here), until ``api.next`` takes it over."""
    if not 1 <= report_id <= 1000:
        raise Http404(f"no report {report_id}")
    response = JsonResponse({"title": f"Report {report_id}", "id": report_id, "total": report_id * 10})
    response["X-Implementation"] = "django"
    return response
