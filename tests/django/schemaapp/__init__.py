"""A one-model app for ``test_schema_setting.py``: its migration was made with
``PGHISTORY_SCHEMA = 'tenant "data"'``, as a project in that schema would make it."""
