-- Dates and times: fractional precision as declared, TIMESTAMP in UTC whatever the session zone, negative TIME,
-- zero dates (emitted as 0000-00-00 / 0000-00-00 00:00:00), YEAR.
SET SESSION sql_mode = '';
SET SESSION time_zone = '+05:30';
CREATE TABLE tm (
  id INT PRIMARY KEY,
  dt6 DATETIME(6), dt3 DATETIME(3), dt0 DATETIME,
  ts6 TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL,
  d DATE, t6 TIME(6), t0 TIME, t2 TIME(2),
  y YEAR
);
INSERT INTO tm VALUES (1,
  '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.120', '1000-01-01 00:00:00',
  '2024-01-01 05:00:00.000001', '2038-01-19 08:44:07',
  '9999-12-31', '-838:59:59.000000', '838:59:59', '-00:00:01.50',
  2024);
-- => {"table": "tm", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "dt6": "2024-02-29 23:59:59.123456", "dt3": "2024-02-29 23:59:59.120", "dt0": "1000-01-01 00:00:00", "ts6": "2023-12-31 23:30:00.000001", "ts0": "2038-01-19 03:14:07", "d": "9999-12-31", "t6": "-838:59:59.000000", "t0": "838:59:59", "t2": "-00:00:01.50", "y": 2024}}
INSERT INTO tm VALUES (2,
  '0000-00-00 00:00:00', '2024-01-01 00:00:00.5', '2024-01-01 00:00:00',
  '1970-01-01 05:30:01', '2000-01-01 00:00:00',
  '0000-00-00', '00:00:00', '-12:34:56', '00:00:00.99',
  0);
-- => {"table": "tm", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "dt6": "0000-00-00 00:00:00.000000", "dt3": "2024-01-01 00:00:00.500", "dt0": "2024-01-01 00:00:00", "ts6": "1970-01-01 00:00:01.000000", "ts0": "1999-12-31 18:30:00", "d": "0000-00-00", "t6": "00:00:00.000000", "t0": "-12:34:56", "t2": "00:00:00.99", "y": 0}}
SET SESSION time_zone = '+00:00';
INSERT INTO tm (id, ts6, ts0, d) VALUES (3, '2024-06-30 12:00:00.5', '0000-00-00 00:00:00', '2024-06-30');
-- => {"table": "tm", "type": "insert", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "dt6": null, "dt3": null, "dt0": null, "ts6": "2024-06-30 12:00:00.500000", "ts0": "0000-00-00 00:00:00", "d": "2024-06-30", "t6": null, "t0": null, "t2": null, "y": null}}
UPDATE tm SET dt0 = '2025-12-31 23:59:59' WHERE id = 3;
-- => {"table": "tm", "type": "update", "primary_key": [3], "primary_key_columns": ["id"], "data": {"id": 3, "dt6": null, "dt3": null, "dt0": "2025-12-31 23:59:59", "ts6": "2024-06-30 12:00:00.500000", "ts0": "0000-00-00 00:00:00", "d": "2024-06-30", "t6": null, "t0": null, "t2": null, "y": null}, "old": {"dt0": null}}
