-- At most a few orders awaiting payment per shopper (`MAX_UNPAID_ORDERS`). A checkout locks its shopper's row here,
-- then counts their unpaid orders after writing its own: two checkouts of one shopper take turns at the lock, so
-- the count each sees includes the other's order. In every database that holds orders (each customer shard too).
CREATE TABLE shoppers (
    user_id  text PRIMARY KEY
);
CREATE INDEX orders_awaiting_payment ON orders (user_id) WHERE status = 'awaiting_payment';
