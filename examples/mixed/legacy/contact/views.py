"""The legacy site's pages: a home page and a contact form (GET shows it, POST echoes it back)."""

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
