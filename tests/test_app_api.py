"""The users API over real HTTP: ``main.py``'s application served on a loopback
port, against a database of the test's own at head. Every endpoint, and every
error answer (404, 409, 422) with the JSON body that says what is wrong.

The application runs in this process (uvicorn on a thread, tests/apphelpers.py),
and each test's database is a copy of one migrated per module: these tests are
about the API's answers. tests/test_app.py starts ``main.py`` as a process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from migrationkit.testing.server import TestServer
from tests.apphelpers import (
    AppServer,
    app_server,
    database_from_template,
)
from tests.helpers import Reply, http


@pytest.fixture
def api(server: TestServer, at_head: str) -> Iterator[AppServer]:
    """The service on a fresh copy of the migrated database, no users in it."""
    with (
        database_from_template(server, at_head) as database,
        app_server(database) as service,
    ):
        yield service


def new_user(**fields: Any) -> dict[str, Any]:
    token = uuid.uuid4().hex[:10]
    return {"email": f"u{token}@example.com", "username": f"u_{token}", **fields}


def created(api: AppServer, **fields: Any) -> dict[str, Any]:
    reply = api.request("POST", "/users", new_user(**fields))
    assert reply.status == 201, reply
    user: dict[str, Any] = reply.body
    return user


def test_create_then_read_back(api: AppServer) -> None:
    reply = api.request(
        "POST",
        "/users",
        {"email": "Ann.Lee@Example.COM", "username": " Ann.Lee ", "first_name": "Ann"},
    )
    assert reply.status == 201, reply
    user = reply.body
    assert reply.headers["location"] == f"/users/{user['id']}"
    assert user["email"] == "ann.lee@example.com"  # stored lower-cased
    assert user["username"] == "ann.lee"
    assert user["first_name"] == "Ann"
    assert user["is_active"] is True
    assert user["created_at"].endswith("Z") or "+" in user["created_at"]
    assert uuid.UUID(user["id"]).version == 4

    again = api.request("GET", f"/users/{user['id']}")
    assert again.status == 200
    assert again.body == user


def test_duplicates_answer_409_naming_the_field(api: AppServer) -> None:
    first = created(api, email="dup@example.com", username="dup_user")
    for body, field in (
        (new_user(email="DUP@example.com"), "email"),  # the same email, any case
        (new_user(username="Dup_User"), "username"),
    ):
        reply = api.request("POST", "/users", body)
        assert reply.status == 409, reply
        assert reply.body["field"] == field
        assert "already taken" in reply.body["detail"]
    other = created(api)
    taken = api.request("PATCH", f"/users/{other['id']}", {"email": first["email"]})
    assert taken.status == 409
    assert taken.body == {
        "detail": "email 'dup@example.com' is already taken by another user",
        "field": "email",
    }


def test_missing_user_answers_404(api: AppServer) -> None:
    missing = uuid.uuid4()
    for method, path, body in (
        ("GET", f"/users/{missing}", None),
        ("PATCH", f"/users/{missing}", {"first_name": "Bo"}),
        ("POST", f"/users/{missing}/deactivate", None),
    ):
        reply = api.request(method, path, body)
        assert reply.status == 404, (method, reply)
        assert reply.body == {"detail": f"no user with id {missing}"}


INVALID: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("POST", "/users", new_user(email="not-an-email"), ("body", "email")),
    ("POST", "/users", new_user(email=f"{'a' * 250}@example.com"), ("body", "email")),
    ("POST", "/users", new_user(username="ab"), ("body", "username")),
    ("POST", "/users", new_user(username="a" * 51), ("body", "username")),
    ("POST", "/users", new_user(username="no spaces"), ("body", "username")),
    ("POST", "/users", new_user(username="_leading"), ("body", "username")),
    ("POST", "/users", new_user(first_name="x" * 101), ("body", "first_name")),
    ("POST", "/users", new_user(first_name="   "), ("body", "first_name")),
    ("POST", "/users", new_user(is_active=False), ("body", "is_active")),
    ("POST", "/users", {"username": "no_email"}, ("body", "email")),
    ("GET", "/users/not-a-uuid", None, ("path", "user_id")),
    ("GET", "/users?limit=0", None, ("query", "limit")),
    ("GET", "/users?limit=101", None, ("query", "limit")),
    ("GET", "/users?cursor=bm90IGEgY3Vyc29y", None, ("query", "cursor")),
    ("GET", "/users?active=maybe", None, ("query", "active")),
]


def test_invalid_input_answers_422_saying_what_is_wrong(api: AppServer) -> None:
    for method, path, body, location in INVALID:
        reply = api.request(method, path, body)
        assert reply.status == 422, (method, path, body, reply)
        errors = reply.body["detail"]
        assert [tuple(error["loc"]) for error in errors] == [location], reply.body
        assert all(error["msg"] for error in errors)


def test_invalid_updates_answer_422(api: AppServer) -> None:
    user = created(api)
    path = f"/users/{user['id']}"
    for body, message in (
        ({}, "give at least one of email, username, first_name"),
        ({"email": None}, "email cannot be null"),
        ({"username": None}, "username cannot be null"),
        ({"is_active": True}, "Extra inputs are not permitted"),
    ):
        reply = api.request("PATCH", path, body)
        assert reply.status == 422, (body, reply)
        assert message in reply.body["detail"][0]["msg"]
    broken = http("POST", api.url("/users"), raw=b'{"email": ')
    assert broken.status == 422
    assert broken.body["detail"][0]["type"] == "json_invalid"
    assert api.request("GET", path).body == user  # nothing changed


def test_update_changes_only_what_is_given(api: AppServer) -> None:
    user = created(api, first_name="Ann")
    path = f"/users/{user['id']}"
    renamed = api.request("PATCH", path, {"username": "Renamed.User"})
    assert renamed.status == 200
    assert renamed.body == {**user, "username": "renamed.user"}
    cleared = api.request("PATCH", path, {"first_name": None})
    assert cleared.body["first_name"] is None
    assert cleared.body["username"] == "renamed.user"
    assert api.request("GET", path).body == cleared.body


def test_deactivate_keeps_the_user(api: AppServer) -> None:
    user = created(api)
    path = f"/users/{user['id']}/deactivate"
    first = api.request("POST", path)
    assert first.status == 200
    assert first.body == {**user, "is_active": False}
    assert api.request("POST", path).body == first.body  # idempotent
    assert api.request("GET", f"/users/{user['id']}").body["is_active"] is False
    # email and username stay taken by the deactivated user
    reuse = api.request("POST", "/users", new_user(email=user["email"]))
    assert reuse.status == 409


def pages(api: AppServer, query: str) -> list[Reply]:
    replies = [api.request("GET", f"/users?{query}")]
    while replies[-1].body["next_cursor"] is not None:
        cursor = replies[-1].body["next_cursor"]
        replies.append(api.request("GET", f"/users?{query}&cursor={cursor}"))
        assert len(replies) < 100
    return replies


def test_list_pages_through_every_user_once_in_creation_order(api: AppServer) -> None:
    made = [created(api) for _ in range(7)]
    replies = pages(api, "limit=3")
    assert [len(reply.body["items"]) for reply in replies] == [3, 3, 1]
    listed = [user for reply in replies for user in reply.body["items"]]
    assert listed == made

    api.request("POST", f"/users/{made[1]['id']}/deactivate")
    active = [
        u["id"] for r in pages(api, "limit=2&active=true") for u in r.body["items"]
    ]
    assert active == [user["id"] for user in made if user is not made[1]]
    inactive = api.request("GET", "/users?active=false").body
    assert [user["id"] for user in inactive["items"]] == [made[1]["id"]]
    assert inactive["next_cursor"] is None


def test_openapi_docs_are_served(api: AppServer) -> None:
    schema = api.request("GET", "/openapi.json")
    assert schema.status == 200
    paths = schema.body["paths"]
    assert set(paths) >= {"/users", "/users/{user_id}", "/users/{user_id}/deactivate"}
    assert "409" in paths["/users"]["post"]["responses"]
    assert "404" in paths["/users/{user_id}"]["get"]["responses"]
    assert "503" in paths["/health"]["get"]["responses"]
    docs = api.request("GET", "/docs")
    assert docs.status == 200
    assert "swagger" in docs.body.lower()
