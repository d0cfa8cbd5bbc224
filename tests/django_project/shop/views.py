"""Views of the test project: a CSRF-protected form, a streamed response, a file, a probe."""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render

from django_project.shop.forms import OrderForm
from django_project.shop.models import Order


def order(request):
    """GET renders the form (with its CSRF token); a valid POST saves an Order."""
    if request.method == "POST":
        form = OrderForm(request.POST)
        if form.is_valid():
            placed = Order.objects.create(**form.cleaned_data)
            messages.success(request, f"Order placed for {placed.customer} ({placed.quantity})")
            return redirect("orders")
    else:
        form = OrderForm()
    return render(request, "shop/order.html", {"form": form})


def orders(request):
    return render(request, "shop/orders.html", {"orders": Order.objects.order_by("id")})


def stream(request):
    count = int(request.GET.get("count", "10"))
    lines = (f"line {i}\n" for i in range(count))
    return StreamingHttpResponse(lines, content_type="text/plain")


def download(request):
    path = Path(settings.DOWNLOAD_PATH)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


def where(request):
    return JsonResponse(
        {
            "absolute": request.build_absolute_uri("/where/?x=1"),
            "path": request.path,
            "script_name": request.META.get("SCRIPT_NAME"),
            "host": request.get_host(),
            "secure": request.is_secure(),
        }
    )
