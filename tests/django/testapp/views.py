from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tests.django.testapp.models import TrackedModel


def update_tracked(request: HttpRequest, pk: int) -> HttpResponse:
    obj = TrackedModel.objects.get(pk=pk)
    obj.int_field = int(request.POST.get("value", obj.int_field + 1))
    obj.save()
    return HttpResponse("ok")


async def aupdate_tracked(request: HttpRequest, pk: int) -> HttpResponse:
    obj = await TrackedModel.objects.aget(pk=pk)
    obj.int_field = int(request.POST.get("value", obj.int_field + 1))
    await obj.asave()
    return HttpResponse("ok")
