from django import forms


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField()
    copies = forms.IntegerField(min_value=1, max_value=10, initial=1, help_text="How many brochures to send")
    message = forms.CharField(widget=forms.Textarea, max_length=2000)
