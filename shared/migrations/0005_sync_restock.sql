-- A sharded order's move records what its decision gives back (`OrderTransition::restock`, the domain's), so that
-- bringing the catalog up to date returns those units rather than deciding again from the reservation. `[{"product_id",
-- "quantity"}]`, as a reservation's lines; NULL in a row an earlier release wrote (its reservation's lines are
-- returned then, as that release did).
ALTER TABLE order_sync ADD COLUMN restock jsonb;
