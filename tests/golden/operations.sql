-- Inserts, updates and deletes; multi-row transactions (xoffset, commit on the last row); composite and missing
-- primary keys; `old` holds only the changed columns.
CREATE TABLE ops (id INT PRIMARY KEY, name VARCHAR(20), qty INT);
CREATE TABLE pair (a INT, b VARCHAR(5), note VARCHAR(10), PRIMARY KEY (a, b));
CREATE TABLE nokey (x INT, y VARCHAR(5));
INSERT INTO ops VALUES (1, 'one', 10), (2, 'two', 20);
-- => {"table": "ops", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "name": "one", "qty": 10}, "commit": false}
-- => {"table": "ops", "type": "insert", "xoffset": 1, "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "name": "two", "qty": 20}}
BEGIN;
UPDATE ops SET qty = qty + 1;
INSERT INTO pair VALUES (1, 'x', 'first');
DELETE FROM ops WHERE id = 2;
COMMIT;
-- => {"table": "ops", "type": "update", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "name": "one", "qty": 11}, "old": {"qty": 10}, "commit": false}
-- => {"table": "ops", "type": "update", "xoffset": 1, "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "name": "two", "qty": 21}, "old": {"qty": 20}, "commit": false}
-- => {"table": "pair", "type": "insert", "xoffset": 2, "primary_key": [1, "x"], "primary_key_columns": ["a", "b"], "data": {"a": 1, "b": "x", "note": "first"}, "commit": false}
-- => {"table": "ops", "type": "delete", "xoffset": 3, "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "name": "two", "qty": 21}}
UPDATE ops SET id = 5, name = 'five' WHERE id = 1;
-- => {"table": "ops", "type": "update", "primary_key": [5], "primary_key_columns": ["id"], "data": {"id": 5, "name": "five", "qty": 11}, "old": {"id": 1, "name": "one"}}
UPDATE pair SET note = 'changed' WHERE a = 1;
-- => {"table": "pair", "type": "update", "primary_key": [1, "x"], "primary_key_columns": ["a", "b"], "data": {"a": 1, "b": "x", "note": "changed"}, "old": {"note": "first"}}
INSERT INTO nokey VALUES (7, 'q'), (7, 'q');
-- => {"table": "nokey", "type": "insert", "primary_key": [], "primary_key_columns": [], "data": {"x": 7, "y": "q"}, "commit": false}
-- => {"table": "nokey", "type": "insert", "xoffset": 1, "primary_key": [], "primary_key_columns": [], "data": {"x": 7, "y": "q"}}
DELETE FROM nokey LIMIT 1;
-- => {"table": "nokey", "type": "delete", "primary_key": [], "primary_key_columns": [], "data": {"x": 7, "y": "q"}}
