-- Customer data sharded by user id (docs/sharding.md). Every database gets the whole schema; the catalog database
-- uses `shard_slots` and `reservations` (and keeps the artisans' copies of orders in `orders` and `order_parts`),
-- each customer shard uses `placements` and `order_sync` beside its carts, orders and idempotency records.
-- Unsharded, they stay empty.

-- The slot map: which shard (an index into SHARD_URLS) holds each of the 256 slots, and whether the slot is
-- `fenced` (being moved: its writes wait, its reads stay on the source). Written once when the shards are first
-- set up, then only by the reshard command.
CREATE TABLE shard_slots (
    slot        smallint PRIMARY KEY CHECK (slot BETWEEN 0 AND 255),
    shard       integer NOT NULL CHECK (shard >= 0),
    state       text NOT NULL CHECK (state IN ('active', 'fenced')),
    changed_at  timestamptz NOT NULL
);

-- The stock one order took off the shelf, keyed by the order id: `reserved` until the order is written in its
-- shopper's shard, then `taken` (sold); `void` when no order came of it, `released` when the order was cancelled
-- (both put the units back). Lines: [{"product_id": "...", "quantity": n}].
CREATE TABLE reservations (
    order_id    text PRIMARY KEY,
    user_id     text NOT NULL,
    lines       jsonb NOT NULL,
    state       text NOT NULL CHECK (state IN ('reserved', 'taken', 'void', 'released')),
    created_at  timestamptz NOT NULL,
    settled_at  timestamptz
);
CREATE INDEX reservations_open ON reservations (created_at) WHERE state = 'reserved';

-- The fence between a checkout and the sweeper, in the shopper's shard: whoever inserts the order's row first
-- decides whether the order exists (`placed`, with the order in the same transaction) or never will (`voided`).
CREATE TABLE placements (
    order_id    text PRIMARY KEY,
    user_id     text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('placed', 'voided')),
    decided_at  timestamptz NOT NULL
);

-- What an order's move still owes the catalog database (the artisans' copy, a cancelled order's units, payouts),
-- written with the move in the shard and deleted once applied; the sweeper applies what a crash left.
CREATE TABLE order_sync (
    seq         bigserial PRIMARY KEY,
    order_id    text NOT NULL,
    user_id     text NOT NULL,
    payouts     jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL
);
CREATE INDEX order_sync_by_order ON order_sync (order_id, seq);
CREATE INDEX order_sync_by_age ON order_sync (created_at);
