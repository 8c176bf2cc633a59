-- Text and binary: utf8mb4 emoji, latin1, CHAR, BLOB/VARBINARY/BINARY with 0x00 and invalid UTF-8 (base64),
-- ENUM, SET (the empty set is [], never null), JSON (nested, arrays, unicode), GEOMETRY (WKT), NULL vs ''.
CREATE TABLE str (
  id INT PRIMARY KEY,
  c CHAR(4), v VARCHAR(20), t TEXT, l VARCHAR(10) CHARACTER SET latin1,
  bl BLOB, vb VARBINARY(8), bn BINARY(4),
  e ENUM('small','medium','large'), s SET('red','green','blue'),
  j JSON, g GEOMETRY
) DEFAULT CHARSET = utf8mb4;
INSERT INTO str VALUES (1,
  'ab', 'héllo 😀', 'multi\nline\ttab "quoted" \\ back', 'café',
  x'00FF80C3', x'00', x'01',
  'medium', 'red,blue',
  '{"name": "Zoë 😀", "list": [1, 2.50, -3e2, null, true, false], "nested": {"empty": {}, "arr": []}}',
  ST_GeomFromText('POINT(1 2.5)'));
-- => {"table": "str", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "c": "ab", "v": "héllo 😀", "t": "multi\nline\ttab \"quoted\" \\ back", "l": "café", "bl": "AP+Aww==", "vb": "AA==", "bn": "AQAAAA==", "e": "medium", "s": ["red", "blue"], "j": {"name": "Zoë 😀", "list": [1, 2.50, -300, null, true, false], "nested": {"empty": {}, "arr": []}}, "g": "POINT(1 2.5)"}}
INSERT INTO str VALUES (2,
  '', '', '', '',
  x'', x'', x'00000000',
  'small', '',
  '[]', ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 0))'));
-- => {"table": "str", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "c": "", "v": "", "t": "", "l": "", "bl": "", "vb": "", "bn": "AAAAAA==", "e": "small", "s": [], "j": [], "g": "POLYGON((0 0,10 0,10 10,0 0))"}}
INSERT INTO str (id) VALUES (3);
-- => {"table": "str", "type": "insert", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "c": null, "v": null, "t": null, "l": null, "bl": null, "vb": null, "bn": null, "e": null, "s": null, "j": null, "g": null}}
UPDATE str SET s = 'green', v = NULL WHERE id = 1;
-- => {"table": "str", "type": "update", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "c": "ab", "v": null, "t": "multi\nline\ttab \"quoted\" \\ back", "l": "café", "bl": "AP+Aww==", "vb": "AA==", "bn": "AQAAAA==", "e": "medium", "s": ["green"], "j": {"name": "Zoë 😀", "list": [1, 2.50, -300, null, true, false], "nested": {"empty": {}, "arr": []}}, "g": "POINT(1 2.5)"}, "old": {"v": "héllo 😀", "s": ["red", "blue"]}}
UPDATE str SET j = '{"a": {"b": [1, {"c": "\\u00e9"}]}}', e = 'large' WHERE id = 2;
-- => {"table": "str", "type": "update", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "c": "", "v": "", "t": "", "l": "", "bl": "", "vb": "", "bn": "AAAAAA==", "e": "large", "s": [], "j": {"a": {"b": [1, {"c": "é"}]}}, "g": "POLYGON((0 0,10 0,10 10,0 0))"}, "old": {"e": "small", "j": []}}
DELETE FROM str WHERE id = 3;
-- => {"table": "str", "type": "delete", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "c": null, "v": null, "t": null, "l": null, "bl": null, "vb": null, "bn": null, "e": null, "s": null, "j": null, "g": null}}
