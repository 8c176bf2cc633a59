-- Numeric types: exact decimals, integer extremes signed and unsigned, FLOAT as MySQL prints it, BIT, YEAR.
CREATE TABLE num (
  id INT PRIMARY KEY,
  d65 DECIMAL(65,30), d10 DECIMAL(10,2),
  ub BIGINT UNSIGNED, sb BIGINT,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED, ii INT, iu INT UNSIGNED,
  f FLOAT, dbl DOUBLE,
  b1 BIT(1), b64 BIT(64), b5 BIT(5),
  y YEAR
);
INSERT INTO num VALUES (1,
  '12345678901234567890123456789012345.123456789012345678901234567890', 12345678.90,
  18446744073709551615, -9223372036854775808,
  -128, 255, -32768, 65535,
  -8388608, 16777215, -2147483648, 4294967295,
  1.1, 0.1,
  b'1', b'1111111111111111111111111111111111111111111111111111111111111111', b'10110',
  2155);
-- => {"table": "num", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "d65": 12345678901234567890123456789012345.123456789012345678901234567890, "d10": 12345678.90, "ub": 18446744073709551615, "sb": -9223372036854775808, "ti": -128, "tu": 255, "si": -32768, "su": 65535, "mi": -8388608, "mu": 16777215, "ii": -2147483648, "iu": 4294967295, "f": 1.1, "dbl": 0.1, "b1": 1, "b64": 18446744073709551615, "b5": 22, "y": 2155}}
INSERT INTO num VALUES (2,
  '-0.000000000000000000000000000001', -0.50,
  0, 9223372036854775807,
  127, 0, 32767, 0,
  8388607, 0, 2147483647, 0,
  -3.40282e38, -1.7976931348623157e308,
  b'0', b'0', b'00001',
  1901);
-- => {"table": "num", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "d65": -0.000000000000000000000000000001, "d10": -0.50, "ub": 0, "sb": 9223372036854775807, "ti": 127, "tu": 0, "si": 32767, "su": 0, "mi": 8388607, "mu": 0, "ii": 2147483647, "iu": 0, "f": -3.40282e+38, "dbl": -1.7976931348623157e+308, "b1": 0, "b64": 0, "b5": 1, "y": 1901}}
INSERT INTO num (id, d65, d10, f, dbl, y) VALUES (3, 0, 0, 0, 0, 0);
-- => {"table": "num", "type": "insert", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "d65": 0.000000000000000000000000000000, "d10": 0.00, "ub": null, "sb": null, "ti": null, "tu": null, "si": null, "su": null, "mi": null, "mu": null, "ii": null, "iu": null, "f": 0.0, "dbl": 0.0, "b1": null, "b64": null, "b5": null, "y": 0}}
INSERT INTO num (id) VALUES (4);
-- => {"table": "num", "type": "insert", "primary_key": [4], "primary_key_columns": ["id"], "data": {"id": 4, "d65": null, "d10": null, "ub": null, "sb": null, "ti": null, "tu": null, "si": null, "su": null, "mi": null, "mu": null, "ii": null, "iu": null, "f": null, "dbl": null, "b1": null, "b64": null, "b5": null, "y": null}}
UPDATE num SET d10 = 12345678.91, f = 2.5 WHERE id = 1;
-- => {"table": "num", "type": "update", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "d65": 12345678901234567890123456789012345.123456789012345678901234567890, "d10": 12345678.91, "ub": 18446744073709551615, "sb": -9223372036854775808, "ti": -128, "tu": 255, "si": -32768, "su": 65535, "mi": -8388608, "mu": 16777215, "ii": -2147483648, "iu": 4294967295, "f": 2.5, "dbl": 0.1, "b1": 1, "b64": 18446744073709551615, "b5": 22, "y": 2155}, "old": {"d10": 12345678.90, "f": 1.1}}
DELETE FROM num WHERE id = 4;
-- => {"table": "num", "type": "delete", "primary_key": [4], "primary_key_columns": ["id"], "data": {"id": 4, "d65": null, "d10": null, "ub": null, "sb": null, "ti": null, "tu": null, "si": null, "su": null, "mi": null, "mu": null, "ii": null, "iu": null, "f": null, "dbl": null, "b1": null, "b64": null, "b5": null, "y": null}}
