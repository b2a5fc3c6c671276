-- The storefront on Postgres: the same data the DynamoDB table holds, in tables (docs/data-model.md, "Postgres").
-- Ids are the same ULIDs (text, sorting by creation time), money integer minor units, times timestamptz.

CREATE TABLE products (
    product_id    text PRIMARY KEY,
    artisan_id    text NOT NULL,
    title         text NOT NULL,
    description   text NOT NULL,
    category      text NOT NULL,
    price_amount  bigint NOT NULL CHECK (price_amount > 0),
    currency      text NOT NULL,
    stock         bigint NOT NULL CHECK (stock BETWEEN 0 AND 100000),
    status        text NOT NULL,
    images        jsonb NOT NULL DEFAULT '[]',
    image_errors  jsonb NOT NULL DEFAULT '[]',
    version       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- The listings: newest first, only what is listed (the DynamoDB adapter's sparse indexes).
CREATE INDEX products_listed ON products (product_id DESC) WHERE status = 'active';
CREATE INDEX products_listed_by_category ON products (category, product_id DESC) WHERE status = 'active';
CREATE INDEX products_listed_by_artisan ON products (artisan_id, product_id DESC) WHERE status = 'active';

-- One artisan's stock change, recorded with it, so the same change never lands twice.
CREATE TABLE stock_adjustments (
    product_id     text NOT NULL REFERENCES products,
    adjustment_id  text NOT NULL,
    artisan_id     text NOT NULL,
    delta          bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (product_id, adjustment_id)
);
CREATE INDEX stock_adjustments_by_age ON stock_adjustments (created_at);

CREATE TABLE artisans (
    artisan_id     text PRIMARY KEY,
    display_name   text NOT NULL,
    product_count  bigint NOT NULL DEFAULT 0
);

CREATE TABLE category_counts (
    slug           text PRIMARY KEY,
    product_count  bigint NOT NULL DEFAULT 0
);

CREATE TABLE cart_lines (
    user_id     text NOT NULL,
    product_id  text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 10),
    added_at    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, product_id)
);
CREATE INDEX cart_lines_by_expiry ON cart_lines (expires_at);

CREATE TABLE orders (
    order_id          text PRIMARY KEY,
    user_id           text NOT NULL,
    status            text NOT NULL,
    items             jsonb NOT NULL,
    total_amount      bigint NOT NULL,
    currency          text NOT NULL,
    contact_email     text,
    shipped_artisans  jsonb NOT NULL DEFAULT '[]',
    payment           jsonb,
    payment_status    text NOT NULL,
    shares            jsonb NOT NULL DEFAULT '[]',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    -- What the background functions still owe the order (`Order::follow_up`), and since when.
    open_kind         text,
    open_since        timestamptz
);
CREATE INDEX orders_by_user ON orders (user_id, order_id DESC);
CREATE INDEX orders_open ON orders (open_kind, open_since) WHERE open_kind IS NOT NULL;

-- Each artisan's part of an order: their order list and their part's status.
CREATE TABLE order_parts (
    artisan_id  text NOT NULL,
    order_id    text NOT NULL REFERENCES orders,
    status      text NOT NULL,
    PRIMARY KEY (artisan_id, order_id)
);
-- An artisan's orders in one status (the dashboard's "to ship").
CREATE INDEX order_parts_by_status ON order_parts (artisan_id, status, order_id DESC);

CREATE TABLE idempotency_records (
    user_id      text NOT NULL,
    key          text NOT NULL,
    state        text NOT NULL,
    fingerprint  text NOT NULL,
    claim_id     text NOT NULL,
    lock_until   timestamptz NOT NULL,
    order_id     text,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_records_by_expiry ON idempotency_records (expires_at);

CREATE TABLE notices (
    order_id    text PRIMARY KEY,
    user_id     text NOT NULL,
    sent        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);

CREATE TABLE payment_events (
    event_id     text PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX payment_events_by_expiry ON payment_events (expires_at);

CREATE TABLE payout_accounts (
    artisan_id    text PRIMARY KEY,
    account_id    text NOT NULL,
    connected_at  timestamptz NOT NULL
);

CREATE TABLE payouts (
    artisan_id   text NOT NULL,
    order_id     text NOT NULL,
    amount       bigint NOT NULL,
    currency     text NOT NULL,
    status       text NOT NULL,
    transfer_id  text,
    parked       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (artisan_id, order_id)
);
CREATE INDEX payouts_due ON payouts (created_at) WHERE status = 'accrued' AND NOT parked;
