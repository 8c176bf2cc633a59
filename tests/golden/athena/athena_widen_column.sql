ALTER TABLE shop.orders CHANGE COLUMN id id bigint;
