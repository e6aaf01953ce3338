"""Closed-loop locust users for the ``--results`` tests: each user sends a request to
``/a`` (3 in 4) or ``/b`` and thinks 20 ms (constant) after each response."""

from locust import FastHttpUser, constant, task


class User(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def a(self) -> None:
        self.client.get("/a")

    @task(1)
    def b(self) -> None:
        self.client.get("/b")
