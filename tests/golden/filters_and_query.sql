-- --exclude-tables, --exclude-columns and --output-query (the statement that wrote the row, as `query`).
-- flags: {"output_query": true, "filter": {"exclude_tables": ["skipped"], "exclude_columns": ["kept.secret"]}}
CREATE TABLE kept (id INT PRIMARY KEY, name VARCHAR(10), secret VARCHAR(10));
CREATE TABLE skipped (id INT PRIMARY KEY);
INSERT INTO kept VALUES (1, 'a', 'hunter2');
-- => {"table": "kept", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "query": "INSERT INTO kept VALUES (1, 'a', 'hunter2')", "data": {"id": 1, "name": "a"}}
INSERT INTO skipped VALUES (1);
UPDATE kept SET secret = 'changed' WHERE id = 1;
-- => {"table": "kept", "type": "update", "primary_key": [1], "primary_key_columns": ["id"], "query": "UPDATE kept SET secret = 'changed' WHERE id = 1", "data": {"id": 1, "name": "a"}, "old": {}}
UPDATE kept SET name = 'b', secret = 'again' WHERE id = 1;
-- => {"table": "kept", "type": "update", "primary_key": [1], "primary_key_columns": ["id"], "query": "UPDATE kept SET name = 'b', secret = 'again' WHERE id = 1", "data": {"id": 1, "name": "b"}, "old": {"name": "a"}}
