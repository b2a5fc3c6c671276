-- Owed work that fails backs off and, when it cannot succeed by itself, is parked for an operator; payouts know how
-- they are funded and where they went, and can be held, cancelled or reversed (refunds and disputes at the
-- provider). docs/payments.md, "Reconciliation" and "Refunds and disputes from outside".

-- A cancelled order's settlement that failed: its tries (`Retry`, JSON) and, once parked, since when (out of the
-- due lists, in the parked one).
ALTER TABLE orders ADD COLUMN retry jsonb, ADD COLUMN parked_at timestamptz;
DROP INDEX orders_open;
CREATE INDEX orders_open ON orders (open_kind, open_since, order_id) WHERE open_kind IS NOT NULL AND parked_at IS NULL;
CREATE INDEX orders_parked ON orders (parked_at, order_id) WHERE parked_at IS NOT NULL;

-- `parked` (from 0001) means "waiting for an account": connecting one makes the payout due by itself (the due
-- query joins payout_accounts), so nothing else has to be written for it.
ALTER TABLE payouts
    ADD COLUMN reason       text,
    ADD COLUMN reversal_id  text,
    ADD COLUMN destination  text,
    ADD COLUMN intent_id    text,
    ADD COLUMN charge_id    text,
    ADD COLUMN version      bigint NOT NULL DEFAULT 0,
    ADD COLUMN retry        jsonb,
    ADD COLUMN parked_at    timestamptz;
DROP INDEX payouts_due;
CREATE INDEX payouts_due ON payouts (created_at, order_id, artisan_id) WHERE status = 'accrued' AND parked_at IS NULL;
CREATE INDEX payouts_parked ON payouts (parked_at, order_id, artisan_id) WHERE parked_at IS NOT NULL;
CREATE INDEX payouts_waiting ON payouts (artisan_id, created_at, order_id) WHERE status = 'accrued' AND parked;
