-- Schema events (--output-schema): a table's definition just before its first row event, and again after the
-- definition changed; each has the xoffset of the row event after it (rows keep their own numbering).
-- flags: {"output_schema": true, "output_ddl": true, "filter": {"exclude_columns": ["pair_key.secret"]}}
CREATE TABLE every_type (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  ii INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  d65 DECIMAL(65,30), d10 DECIMAL(10,2), f FLOAT, dbl DOUBLE, b1 BIT(1), b64 BIT(64),
  y YEAR, dd DATE, t3 TIME(3), dt6 DATETIME(6), dt0 DATETIME, ts3 TIMESTAMP(3) NULL,
  c3 CHAR(3), vc VARCHAR(10), tx TEXT, lt LONGTEXT, bn BINARY(4), vb VARBINARY(8), bl BLOB, mb MEDIUMBLOB,
  e ENUM('small','medium','large'), s SET('red','green','blue'), j JSON, g GEOMETRY
);
-- => {"table": "every_type", "type": "table-create", "sql": "CREATE TABLE every_type (\n  id INT PRIMARY KEY,\n  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,\n  ii INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,\n  d65 DECIMAL(65,30), d10 DECIMAL(10,2), f FLOAT, dbl DOUBLE, b1 BIT(1), b64 BIT(64),\n  y YEAR, dd DATE, t3 TIME(3), dt6 DATETIME(6), dt0 DATETIME, ts3 TIMESTAMP(3) NULL,\n  c3 CHAR(3), vc VARCHAR(10), tx TEXT, lt LONGTEXT, bn BINARY(4), vb VARBINARY(8), bl BLOB, mb MEDIUMBLOB,\n  e ENUM('small','medium','large'), s SET('red','green','blue'), j JSON, g GEOMETRY\n)"}
INSERT INTO every_type (id) VALUES (1);
-- => {"table": "every_type", "type": "table-schema", "commit": false, "columns": [{"name": "id", "type": "int", "unsigned": false}, {"name": "ti", "type": "tinyint", "unsigned": false}, {"name": "tu", "type": "tinyint", "unsigned": true}, {"name": "si", "type": "smallint", "unsigned": false}, {"name": "su", "type": "smallint", "unsigned": true}, {"name": "mi", "type": "mediumint", "unsigned": false}, {"name": "mu", "type": "mediumint", "unsigned": true}, {"name": "ii", "type": "int", "unsigned": true}, {"name": "bi", "type": "bigint", "unsigned": false}, {"name": "bu", "type": "bigint", "unsigned": true}, {"name": "d65", "type": "decimal", "precision": 65, "scale": 30}, {"name": "d10", "type": "decimal", "precision": 10, "scale": 2}, {"name": "f", "type": "float"}, {"name": "dbl", "type": "double"}, {"name": "b1", "type": "bit", "bits": 1}, {"name": "b64", "type": "bit", "bits": 64}, {"name": "y", "type": "year"}, {"name": "dd", "type": "date"}, {"name": "t3", "type": "time", "fsp": 3}, {"name": "dt6", "type": "datetime", "fsp": 6}, {"name": "dt0", "type": "datetime", "fsp": 0}, {"name": "ts3", "type": "timestamp", "fsp": 3}, {"name": "c3", "type": "char"}, {"name": "vc", "type": "varchar"}, {"name": "tx", "type": "text"}, {"name": "lt", "type": "text"}, {"name": "bn", "type": "binary"}, {"name": "vb", "type": "varbinary"}, {"name": "bl", "type": "blob"}, {"name": "mb", "type": "blob"}, {"name": "e", "type": "enum", "values": ["small", "medium", "large"]}, {"name": "s", "type": "set", "values": ["red", "green", "blue"]}, {"name": "j", "type": "json"}, {"name": "g", "type": "geometry"}], "primary_key_columns": ["id"]}
-- => {"table": "every_type", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "ti": null, "tu": null, "si": null, "su": null, "mi": null, "mu": null, "ii": null, "bi": null, "bu": null, "d65": null, "d10": null, "f": null, "dbl": null, "b1": null, "b64": null, "y": null, "dd": null, "t3": null, "dt6": null, "dt0": null, "ts3": null, "c3": null, "vc": null, "tx": null, "lt": null, "bn": null, "vb": null, "bl": null, "mb": null, "e": null, "s": null, "j": null, "g": null}}
-- The same definition again: no schema event.
INSERT INTO every_type (id, e) VALUES (2, 'large');
-- => {"table": "every_type", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "ti": null, "tu": null, "si": null, "su": null, "mi": null, "mu": null, "ii": null, "bi": null, "bu": null, "d65": null, "d10": null, "f": null, "dbl": null, "b1": null, "b64": null, "y": null, "dd": null, "t3": null, "dt6": null, "dt0": null, "ts3": null, "c3": null, "vc": null, "tx": null, "lt": null, "bn": null, "vb": null, "bl": null, "mb": null, "e": "large", "s": null, "j": null, "g": null}}
-- A composite key in key order; the excluded column is left out of `columns` too.
CREATE TABLE pair_key (a INT, b VARCHAR(5), secret VARCHAR(10), PRIMARY KEY (b, a));
-- => {"table": "pair_key", "type": "table-create", "sql": "CREATE TABLE pair_key (a INT, b VARCHAR(5), secret VARCHAR(10), PRIMARY KEY (b, a))"}
INSERT INTO pair_key VALUES (1, 'x', 'hunter2');
-- => {"table": "pair_key", "type": "table-schema", "commit": false, "columns": [{"name": "a", "type": "int", "unsigned": false}, {"name": "b", "type": "varchar"}], "primary_key_columns": ["b", "a"]}
-- => {"table": "pair_key", "type": "insert", "primary_key": ["x", 1], "primary_key_columns": ["b", "a"], "data": {"a": 1, "b": "x"}}
CREATE TABLE no_key (msg VARCHAR(20), n SMALLINT UNSIGNED);
-- => {"table": "no_key", "type": "table-create", "sql": "CREATE TABLE no_key (msg VARCHAR(20), n SMALLINT UNSIGNED)"}
INSERT INTO no_key VALUES ('hello', 7);
-- => {"table": "no_key", "type": "table-schema", "commit": false, "columns": [{"name": "msg", "type": "varchar"}, {"name": "n", "type": "smallint", "unsigned": true}], "primary_key_columns": []}
-- => {"table": "no_key", "type": "insert", "primary_key": [], "primary_key_columns": [], "data": {"msg": "hello", "n": 7}}
-- A new column: a new schema event before the next row. A new index changes no column: no schema event.
CREATE TABLE grows (id INT PRIMARY KEY, a VARCHAR(10));
-- => {"table": "grows", "type": "table-create", "sql": "CREATE TABLE grows (id INT PRIMARY KEY, a VARCHAR(10))"}
INSERT INTO grows VALUES (1, 'x');
-- => {"table": "grows", "type": "table-schema", "commit": false, "columns": [{"name": "id", "type": "int", "unsigned": false}, {"name": "a", "type": "varchar"}], "primary_key_columns": ["id"]}
-- => {"table": "grows", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "a": "x"}}
ALTER TABLE grows ADD COLUMN b DECIMAL(5,1) DEFAULT 7;
-- => {"table": "grows", "type": "table-alter", "sql": "ALTER TABLE grows ADD COLUMN b DECIMAL(5,1) DEFAULT 7"}
INSERT INTO grows VALUES (2, 'y', 8.5);
-- => {"table": "grows", "type": "table-schema", "commit": false, "columns": [{"name": "id", "type": "int", "unsigned": false}, {"name": "a", "type": "varchar"}, {"name": "b", "type": "decimal", "precision": 5, "scale": 1}], "primary_key_columns": ["id"]}
-- => {"table": "grows", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "a": "y", "b": 8.5}}
ALTER TABLE grows ADD INDEX by_a (a);
-- => {"table": "grows", "type": "table-alter", "sql": "ALTER TABLE grows ADD INDEX by_a (a)"}
INSERT INTO grows VALUES (3, 'z', 9);
-- => {"table": "grows", "type": "insert", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "a": "z", "b": 9.0}}
-- One transaction over two tables: each table's schema event comes before its first row, with that row's xoffset.
CREATE TABLE txn_a (id INT PRIMARY KEY);
-- => {"table": "txn_a", "type": "table-create", "sql": "CREATE TABLE txn_a (id INT PRIMARY KEY)"}
CREATE TABLE txn_b (id BIGINT UNSIGNED PRIMARY KEY, at DATETIME(3));
-- => {"table": "txn_b", "type": "table-create", "sql": "CREATE TABLE txn_b (id BIGINT UNSIGNED PRIMARY KEY, at DATETIME(3))"}
BEGIN;
INSERT INTO txn_a VALUES (1), (2);
INSERT INTO txn_b VALUES (1, '2024-01-02 03:04:05.678');
INSERT INTO txn_a VALUES (3);
COMMIT;
-- => {"table": "txn_a", "type": "table-schema", "commit": false, "columns": [{"name": "id", "type": "int", "unsigned": false}], "primary_key_columns": ["id"]}
-- => {"table": "txn_a", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1}, "commit": false}
-- => {"table": "txn_a", "type": "insert", "xoffset": 1, "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2}, "commit": false}
-- => {"table": "txn_b", "type": "table-schema", "xoffset": 2, "commit": false, "columns": [{"name": "id", "type": "bigint", "unsigned": true}, {"name": "at", "type": "datetime", "fsp": 3}], "primary_key_columns": ["id"]}
-- => {"table": "txn_b", "type": "insert", "xoffset": 2, "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "at": "2024-01-02 03:04:05.678"}, "commit": false}
-- => {"table": "txn_a", "type": "insert", "xoffset": 3, "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3}}
