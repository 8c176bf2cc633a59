"""`make demo`: deterministic sample data (the TICKIT ticket-sales schema and a `stock_day` table), a live workload
of realistic transactions on it, and the demo that runs the whole local pipeline over them."""
