"""The Django app's models module: empty on disk. The Django runners create their models
after ``django.setup()`` (:mod:`benchmarks.peers.django_orm`); django-pghistory puts its
generated event models here."""
