ALTER TABLE shop.orders ADD COLUMNS (shipped_on date, discount decimal(5,2));
