-- Primary key values follow the key's own column order; XA transactions are emitted when prepared.
CREATE TABLE keyed (a INT, b VARCHAR(5), c INT, PRIMARY KEY (c, a));
CREATE TABLE prefixed (name VARCHAR(20), id INT, PRIMARY KEY (name(3), id));
INSERT INTO keyed VALUES (1, 'x', 3);
-- => {"table": "keyed", "type": "insert", "primary_key": [3, 1], "primary_key_columns": ["c", "a"], "data": {"a": 1, "b": "x", "c": 3}}
INSERT INTO prefixed VALUES ('alphabet', 7);
-- => {"table": "prefixed", "type": "insert", "primary_key": ["alphabet", 7], "primary_key_columns": ["name", "id"], "data": {"name": "alphabet", "id": 7}}
XA START 'demo';
INSERT INTO keyed VALUES (2, 'y', 4);
XA END 'demo';
XA PREPARE 'demo';
-- => {"table": "keyed", "type": "insert", "primary_key": [4, 2], "primary_key_columns": ["c", "a"], "data": {"a": 2, "b": "y", "c": 4}}
XA COMMIT 'demo';
XA START 'one';
INSERT INTO keyed VALUES (5, 'z', 6);
XA END 'one';
XA COMMIT 'one' ONE PHASE;
-- => {"table": "keyed", "type": "insert", "primary_key": [6, 5], "primary_key_columns": ["c", "a"], "data": {"a": 5, "b": "z", "c": 6}}
