"""Shoppers browsing, filling a cart and checking out: the storefront's main path under load.

Locally (`make dev` in one terminal, then `make loadtest`), tokens come from the local server's
`POST /dev/token`. Against a deployed stage there is no such route: put Cognito ID tokens of shoppers, one per
line, in a file and point SHOPPER_TOKENS at it (`HOST=<ApiUrl> SHOPPER_TOKENS=tokens.txt make loadtest`).

Mix per shopper: browse 6 : cart 3 : checkout 1. A checkout refused because the last item sold (409) is the
storefront working, so it counts as a success under its own name. After each checkout a simulated user becomes
another shopper (a new local token, or the next line of SHOPPER_TOKENS), as real traffic is many shoppers: one
shopper holds at most three orders awaiting payment, and a deployed stage's orders stay unpaid.
"""

import itertools
import os
import random
import uuid

from locust import HttpUser, between, task

TOKENS = None
if os.environ.get("SHOPPER_TOKENS"):
    with open(os.environ["SHOPPER_TOKENS"], encoding="utf-8") as handle:
        TOKENS = itertools.cycle([line.strip() for line in handle if line.strip()])


class Shopper(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self):
        self.become_a_new_shopper()
        self.products = []
        self.browse()

    def become_a_new_shopper(self):
        if TOKENS is not None:
            token = next(TOKENS)
        else:
            user = f"locust-{uuid.uuid4().hex[:12]}"
            response = self.client.post("/dev/token", json={"user_id": user, "role": "shopper"}, name="/dev/token")
            token = response.json()["token"]
        self.headers = {"authorization": f"Bearer {token}"}

    @task(6)
    def browse(self):
        page = self.client.get("/products?limit=20", name="GET /products").json()
        self.products = [item["product_id"] for item in page.get("items", []) if item.get("stock", 0) > 0] or self.products
        self.client.get("/categories", name="GET /categories")
        if self.products:
            self.client.get(f"/products/{random.choice(self.products)}", name="GET /products/{id}")

    @task(3)
    def add_to_cart(self):
        if not self.products:
            return
        product = random.choice(self.products)
        self.client.put(f"/cart/items/{product}", json={"quantity": 1}, headers=self.headers, name="PUT /cart/items/{id}")
        self.client.get("/cart", headers=self.headers, name="GET /cart")

    @task(1)
    def checkout(self):
        headers = dict(self.headers, **{"idempotency-key": str(uuid.uuid4())})
        with self.client.post("/orders", json={}, headers=headers, name="POST /orders", catch_response=True) as response:
            if response.status_code == 201:
                response.success()
                self.pay(response.json())
            elif response.status_code == 409:
                # Sold out (or a concurrent duplicate): correct behaviour, reported apart.
                response.success()
                self.environment.events.request.fire(
                    request_type="POST", name="POST /orders (sold out)", response_time=response.elapsed.total_seconds() * 1000,
                    response_length=len(response.content), exception=None, context={},
                )
            elif response.status_code == 422:
                response.success()  # empty cart: nothing to buy yet
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
        self.become_a_new_shopper()

    def pay(self, order):
        """Locally, pays the order on the provider stand-in's test-card endpoint (a card that works), so stock is not
        held for the payment window; a deployed stage is paid by its shoppers through Stripe (test mode)."""
        if "127.0.0.1" not in self.host and "localhost" not in self.host:
            return
        intent = (order.get("payment") or {}).get("intent_id")
        if intent:
            self.client.post(f"/dev/pay/{intent}", data={"outcome": "succeed"}, name="POST /dev/pay/{intent}")
