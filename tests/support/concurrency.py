"""Requests at once, for the race tests (PostgreSQL: SQLite serialises every write anyway)."""

import threading

import psycopg
import requests
from django.db import connection, connections


def at_once(count: int, send) -> list:
    """Calls send(index) for each index in range(count), each in its own thread, all released by one
    barrier at the same moment; returns what the calls returned, in index order (None where one
    raised). Each thread closes the database connections it opened."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = send(index)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def api_at_once(method: str, requests_: list[tuple[str, dict]], token) -> list[tuple[int, object]]:
    """Each (url, JSON body) of `requests_` sent with `method` and the API `token`, from its own
    session, all at once; their (status, answer) pairs in order."""

    def send(index):
        url, body = requests_[index]
        session = requests.Session()
        response = session.request(method, url, json=body, headers={"Authorization": f"Token {token.key}"}, timeout=30)
        return response.status_code, response.json()

    return at_once(len(requests_), send)


def other_connection() -> psycopg.Connection:
    """A second connection to the test database, outside Django's, in a transaction, giving up on
    any lock after 2 s: a write that would wait fails the test instead of hanging it."""
    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=False)
    other.execute("SET lock_timeout = '2s'")
    return other
