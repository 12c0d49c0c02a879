ALTER TABLE customers ADD COLUMN fax text;
DROP INDEX orders_customer;
ALTER TABLE orders DROP COLUMN shipped_at;
