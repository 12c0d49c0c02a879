-- The PR: track shipments, find orders by customer, and drop a column nobody reads.
ALTER TYPE order_status ADD VALUE 'cancelled';
ALTER TABLE orders ADD COLUMN shipped_at timestamptz;
CREATE INDEX orders_customer ON orders (customer_id);
ALTER TABLE customers DROP COLUMN fax;
