from django import forms


class OrderForm(forms.Form):
    customer = forms.CharField(max_length=100)
    quantity = forms.IntegerField(min_value=1, max_value=100)
