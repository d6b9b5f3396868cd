"""Django adapter: what a django-pghistory 3.9 user gets from the documented API.

Layer: tests (Django tier). Each test follows django-pghistory's documentation (names,
exception types, defaults) and asserts what a user of it would see.
"""

from __future__ import annotations

import io
import uuid

import pgtrigger
import pytest
from django.core.management import call_command
from django.db import connection, models
from django.test import override_settings
from django.utils import timezone

import pghistory_django as pghistory
from pghistory_core import HistoryError
from pghistory_django.models import Context, Events
from tests.django.cleanup import truncate_all
from tests.django.test_settings_and_defects import dynamic  # noqa: F401 - fixture
from tests.django.testapp import models as m


@pytest.fixture(autouse=True)
def _db(django_db):
    yield
    truncate_all()


def test_pgh_event_model_of_a_model_with_several_event_models_says_to_use_pgh_event_models():
    # django-pghistory: "has more than one event model. Use the pgh_event_models dictionary".
    with pytest.raises(ValueError, match="pgh_event_models"):
        m.MultiUser.pgh_event_model  # noqa: B018
    assert m.TrackedModel.pgh_event_model is m.TrackedModelEvent
    assert m.Child.pgh_event_model is m.ChildEvent and m.Parent.pgh_event_model is m.ParentEvent


def test_revert_of_an_event_model_without_every_field_raises_runtime_error():
    # django-pghistory's docs: reverting such an event model "will result in a RuntimeError".
    obj = m.FieldsModel.objects.create(int_field=1, char_field="a")
    event = obj.int_field_events.get()
    with pytest.raises(RuntimeError, match="char_field"):
        event.revert()
    with pytest.raises(HistoryError):  # still the library's own error type too
        event.revert()
    assert m.FieldsModel.objects.get(pk=obj.pk).int_field == 1


def test_context_created_by_hand_gets_a_uuid():
    context = Context.objects.create(metadata={"job": "import"})
    assert isinstance(context.id, uuid.UUID)
    assert Context.objects.get(pk=context.pk).metadata == {"job": "import"}
    out = io.StringIO()
    call_command("makemigrations", "pghistory", "--check", "--dry-run", stdout=out)  # the migration matches


def test_install_pgh_attach_context_func_installs_the_context_functions():
    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION public.pghistory_context_id() CASCADE")
    Context.install_pgh_attach_context_func()
    Context.install_pgh_attach_context_func(using="default")
    with pghistory.context(job="x"):
        obj = m.TrackedModel.objects.create(int_field=1, char_field="a")
    assert obj.events.get().pgh_context.metadata == {"job": "x"}


@pytest.mark.parametrize("call", ["tracks", "references"])
def test_events_of_an_unsaved_object_are_refused_by_name(call):
    m.TrackedModel.objects.create(int_field=1, char_field="a")
    with pytest.raises(ValueError, match="unsaved.*TrackedModel"):
        list(getattr(Events.objects, call)(m.TrackedModel(int_field=2)))


def test_as_of_an_unsaved_object_is_refused_by_name():
    with pytest.raises(ValueError, match="unsaved.*Ticket"):
        m.Ticket.pgh_event_model.objects.as_of(timezone.now(), obj=m.Ticket(status="open"))


def test_field_setting_default_keeps_the_tracked_fields_attribute(dynamic):  # noqa: F811
    # django-pghistory's docs: PGHISTORY_FIELD = pghistory.Field(db_index=pghistory.DEFAULT)
    # keeps the tracked field's db_index (the other overrides still apply).
    with override_settings(PGHISTORY_FIELD=pghistory.Field(db_index=pghistory.DEFAULT)):
        model = pghistory.track()(
            dynamic.model("Indexed", code=models.CharField(max_length=8, db_index=True, unique=True), n=models.IntegerField())
        )
    code = model.pgh_event_model._meta.get_field("code")
    assert (code.db_index, code.unique) == (True, False)
    assert model.pgh_event_model._meta.get_field("n").db_index is False
    # Without the setting, indexes of mirrored fields are dropped.
    assert m.TrackedModelEvent._meta.get_field("char_field").db_index is False


def test_track_level_accepts_pgtrigger_levels(dynamic):  # noqa: F811
    # In django-pghistory, pghistory.Row/Statement are pgtrigger's; code may name either.
    row = pghistory.track(level=pgtrigger.Row)(dynamic.model("RowLevel", n=models.IntegerField()))
    stmt = pghistory.track(level=pgtrigger.Statement)(dynamic.model("StatementLevel", n=models.IntegerField()))
    assert row.pgh_event_model.pgh_tracking().level is pghistory.Row
    assert stmt.pgh_event_model.pgh_tracking().level is pghistory.Statement


def test_file_fields_are_mirrored_without_check_errors(dynamic):  # noqa: F811
    # django-pghistory's docs: primary_key on file fields "is already handled".
    model = pghistory.track()(dynamic.model("Attachment", upload=models.FileField(upload_to="files/")))
    event_model = model.pgh_event_model
    assert event_model._meta.get_field("upload").check() == []
    dynamic.install(model)
    model.objects.create(upload="files/a.txt")
    assert list(event_model.objects.values_list("upload", flat=True)) == ["files/a.txt"]
