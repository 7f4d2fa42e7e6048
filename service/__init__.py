"""The HTTP service ``main.py`` starts: users over the SQLAlchemy models.

Split the usual way: ``settings`` (configuration, read once), ``database`` (the
pooled engine, sessions, the schema check), ``schemas`` (what goes over the
wire, validated), ``crud`` (what the routes ask of the database), ``routes/``
(the endpoints) and ``app`` (the factory that puts them together).
"""
