"""The /notes resource: create, read, update, delete, pagination and filters."""

from __future__ import annotations

from flask.testing import FlaskClient

AuthHeaders = dict[str, str]


def create(client: FlaskClient, auth: AuthHeaders, **fields: object) -> dict[str, object]:
    response = client.post("/notes", json={"title": "A note", **fields}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_returns_the_note_and_its_location(client: FlaskClient, auth: AuthHeaders) -> None:
    response = client.post(
        "/notes", json={"title": "  Groceries  ", "body": "milk", "pinned": True}, headers=auth
    )
    assert response.status_code == 201
    note = response.get_json()
    assert note["title"] == "Groceries"
    assert note["body"] == "milk"
    assert note["pinned"] is True
    assert note["created_at"].endswith("Z")
    assert response.headers["Location"] == f"/notes/{note['id']}"
    assert client.get(response.headers["Location"], headers=auth).get_json() == note


def test_optional_fields_default(client: FlaskClient, auth: AuthHeaders) -> None:
    note = create(client, auth, title="Only a title")
    assert note["body"] == ""
    assert note["pinned"] is False


def test_update_changes_only_the_fields_sent(client: FlaskClient, auth: AuthHeaders) -> None:
    note = create(client, auth, title="Old", body="keep me")
    response = client.patch(f"/notes/{note['id']}", json={"title": "New"}, headers=auth)
    assert response.status_code == 200
    updated = response.get_json()
    assert (updated["title"], updated["body"]) == ("New", "keep me")
    assert client.get(f"/notes/{note['id']}", headers=auth).get_json()["title"] == "New"


def test_delete_removes_the_note(client: FlaskClient, auth: AuthHeaders) -> None:
    note = create(client, auth)
    response = client.delete(f"/notes/{note['id']}", headers=auth)
    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"/notes/{note['id']}", headers=auth).status_code == 404
    assert client.delete(f"/notes/{note['id']}", headers=auth).status_code == 404


def test_missing_note_is_a_json_404(client: FlaskClient, auth: AuthHeaders) -> None:
    for response in (
        client.get("/notes/999", headers=auth),
        client.patch("/notes/999", json={"title": "x"}, headers=auth),
    ):
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"
        assert response.get_json()["detail"] == "Note 999 does not exist."


def test_pagination_follows_next_links_to_the_end(client: FlaskClient, auth: AuthHeaders) -> None:
    ids = [create(client, auth, title=f"note {i}")["id"] for i in range(5)]
    seen: list[int] = []
    url: str | None = "/notes?limit=2"
    pages = 0
    while url:
        response = client.get(url, headers=auth)
        page = response.get_json()
        assert page["total"] == 5
        assert page["limit"] == 2
        assert len(page["data"]) <= 2
        seen += [note["id"] for note in page["data"]]
        if page["next"]:
            assert response.headers["Link"] == f'<{page["next"]}>; rel="next"'
        else:
            assert "Link" not in response.headers
        url = page["next"]
        pages += 1
    assert seen == ids
    assert pages == 3


def test_default_and_maximum_page_size(client: FlaskClient, auth: AuthHeaders) -> None:
    for i in range(3):
        create(client, auth, title=f"n{i}")
    page = client.get("/notes", headers=auth).get_json()
    assert (page["limit"], page["offset"], page["next"]) == (20, 0, None)
    assert client.get("/notes?limit=100", headers=auth).status_code == 200
    assert client.get("/notes?limit=101", headers=auth).status_code == 422


def test_offset_past_the_end_is_an_empty_page(client: FlaskClient, auth: AuthHeaders) -> None:
    create(client, auth)
    page = client.get("/notes?offset=10", headers=auth).get_json()
    assert page["data"] == []
    assert page["total"] == 1
    assert page["next"] is None


def test_filter_by_text(client: FlaskClient, auth: AuthHeaders) -> None:
    create(client, auth, title="Buy MILK")
    create(client, auth, title="Call Bob", body="about the milk")
    create(client, auth, title="Unrelated")
    page = client.get("/notes?q=milk", headers=auth).get_json()
    assert sorted(note["title"] for note in page["data"]) == ["Buy MILK", "Call Bob"]
    assert page["total"] == 2


def test_filter_by_pinned(client: FlaskClient, auth: AuthHeaders) -> None:
    create(client, auth, title="pinned", pinned=True)
    create(client, auth, title="loose")
    pinned = client.get("/notes?pinned=true", headers=auth).get_json()["data"]
    loose = client.get("/notes?pinned=false", headers=auth).get_json()["data"]
    assert [note["title"] for note in pinned] == ["pinned"]
    assert [note["title"] for note in loose] == ["loose"]


def test_next_link_keeps_the_filters(client: FlaskClient, auth: AuthHeaders) -> None:
    for i in range(3):
        create(client, auth, title=f"match {i}", pinned=True)
    create(client, auth, title="match but not pinned")
    page = client.get("/notes?q=match&pinned=true&limit=2", headers=auth).get_json()
    assert page["total"] == 3
    last = client.get(page["next"], headers=auth).get_json()
    assert [note["title"] for note in last["data"]] == ["match 2"]
    assert last["next"] is None


def test_like_wildcards_are_matched_literally(client: FlaskClient, auth: AuthHeaders) -> None:
    create(client, auth, title="100% done")
    create(client, auth, title="snake_case")
    create(client, auth, title="plain")
    assert [n["title"] for n in client.get("/notes?q=%25", headers=auth).get_json()["data"]] == [
        "100% done"
    ]
    assert [n["title"] for n in client.get("/notes?q=_", headers=auth).get_json()["data"]] == [
        "snake_case"
    ]


def test_odd_input_is_a_4xx_never_a_500(client: FlaskClient, auth: AuthHeaders) -> None:
    """Each of these crashed the app on SQLite or PostgreSQL (the suite runs on both)."""
    create(client, auth)
    for path, status, code in [
        ("/notes/2147483648", 404, "not_found"),  # past PostgreSQL's integer
        ("/notes/9223372036854775808", 404, "not_found"),  # past SQLite's 64 bits
        ("/notes?offset=99999999999999999999", 422, "validation_failed"),
        ("/notes?offset=2147483648", 422, "validation_failed"),
        ("/notes?q=a%00b", 400, "bad_request"),  # PostgreSQL refuses NUL in text
    ]:
        response = client.get(path, headers=auth)
        assert (response.status_code, response.get_json()["code"]) == (status, code), path
        assert response.mimetype == "application/problem+json"
    for title in ("a\x00b", "\ud800"):
        response = client.post("/notes", json={"title": title}, headers=auth)
        assert response.status_code == 400, title
        assert response.get_json()["code"] == "invalid_json"
    assert client.get("/notes", headers=auth).get_json()["total"] == 1
