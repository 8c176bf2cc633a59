-- Values the server accepts under a permissive sql_mode that Python's date types cannot hold, and text in
-- charsets whose codecs are named differently in Python: each arrives exactly as the server prints it.
SET SESSION sql_mode = 'ALLOW_INVALID_DATES';
CREATE TABLE odd (
  id INT PRIMARY KEY,
  d DATE, dt DATETIME(2),
  u16 VARCHAR(10) CHARACTER SET utf16, u16le VARCHAR(10) CHARACTER SET utf16le,
  u32 VARCHAR(10) CHARACTER SET utf32, ucs VARCHAR(10) CHARACTER SET ucs2, cp VARCHAR(10) CHARACTER SET cp1251
);
INSERT INTO odd VALUES (1, '2024-02-30', '2023-02-31 10:11:12.5', 'żółw 😀', 'żółw 😀', 'żółw 😀', 'żółw', 'привет');
-- => {"table": "odd", "type": "insert", "primary_key": [1], "primary_key_columns": ["id"], "data": {"id": 1, "d": "2024-02-30", "dt": "2023-02-31 10:11:12.50", "u16": "żółw 😀", "u16le": "żółw 😀", "u32": "żółw 😀", "ucs": "żółw", "cp": "привет"}}
SET SESSION sql_mode = '';
INSERT INTO odd (id, d, dt) VALUES (2, '2024-00-15', '2024-06-00 00:00:00');
-- => {"table": "odd", "type": "insert", "primary_key": [2], "primary_key_columns": ["id"], "data": {"id": 2, "d": "2024-00-15", "dt": "2024-06-00 00:00:00.00", "u16": null, "u16le": null, "u32": null, "ucs": null, "cp": null}}
