"""A small shop tracked the django-pghistory way.

The only line a project changes to switch is the import: ``import pghistory`` becomes
``import pghistory_django as pghistory``; the settings choose which one runs here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

if settings.HISTORY_APP == "pghistory_django":
    import pghistory_django as pghistory
else:  # django-pghistory
    import pghistory  # type: ignore[no-redef]


@pghistory.track()
class Product(models.Model):
    name = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        app_label = "shop"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
@pghistory.track(
    pghistory.UpdateEvent("quantity_changed", row=pghistory.Old, condition=pghistory.AnyChange("quantity")),
    fields=["quantity"],
)
class Order(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    quantity = models.IntegerField()
    note = models.TextField(blank=True, default="")

    class Meta:
        app_label = "shop"


@pghistory.track(context_field=pghistory.ContextJSONField())
class Tag(models.Model):
    label = models.CharField(max_length=32, unique=True)

    class Meta:
        app_label = "shop"
