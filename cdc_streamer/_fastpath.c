/*
 * cdc_streamer._fastpath: the streamer's hot path in C, with the pure-Python modules as the reference.
 *
 * Two jobs, each producing exactly (type for type, byte for byte) what the Python path produces:
 *
 * 1. encode_value(obj) -> str: the JSON text of an event value, as cdc_streamer.encoding.encode_value_python
 *    writes it (exact-type dispatch; anything else goes through the Python `_encode_subclass`).
 *
 * 2. Plan: the row images of one binlog rows event -> our final event values, as python-mysql-replication (with
 *    cdc_streamer.library_fixes) followed by cdc_streamer.values.RowConverter produce them. A Plan is compiled
 *    once per table layout by cdc_streamer/row_decoder.py, which also checks that an event can be decoded here.
 *
 * The binlog row format. After a rows event's header, table id, flags, column count and columns-present
 * bitmap(s) (the library reads all that when it constructs the event), the body is a sequence of row images:
 *
 *     row image := null bitmap ((columns + 7) / 8 bytes, bit i = column i is NULL, least significant bit first)
 *                  then the value of every non-NULL column, in column order, with no padding or alignment
 *     WRITE/DELETE_ROWS: one image per row; UPDATE_ROWS: the before image, then the after image, per row
 *
 * (We only decode full images: every column present, binlog_row_image=FULL. The Python side checks that.)
 * Values (LE = little-endian, BE = big-endian):
 *
 *     TINY SHORT INT24 LONG LONGLONG   1 2 3 4 8 bytes LE, two's complement or unsigned
 *     FLOAT DOUBLE                     4 8 bytes LE IEEE 754
 *     YEAR                             1 byte, year - 1900 (0 is the year 0000)
 *     NEWDECIMAL                       MySQL's packed decimal, see read_decimal
 *     VARCHAR CHAR                     length in 1 byte (2 if the column's max length in bytes > 255) LE, bytes
 *     BLOB TEXT GEOMETRY               length in length_size (1-4) bytes LE, bytes (MariaDB's JSON is a LONGTEXT)
 *     DATE                             3 bytes LE: day | month << 5 | year << 9
 *     DATETIME2                        5 bytes BE: sign(1) year*13+month(17) day(5) hour(5) minute(6) second(6),
 *                                      then the fraction
 *     TIMESTAMP2                       4 bytes BE seconds since 1970-01-01 UTC, then the fraction
 *     TIME2                            3 bytes BE: sign(1, 1 = non-negative) unused(1) hour(10) minute(6)
 *                                      second(6), negative times in two's complement; then the fraction
 *     fraction                         (fsp + 1) / 2 bytes BE: fsp 1-2 hundredths, 3-4 ten-thousandths, 5-6 micros
 *     ENUM                             1-2 bytes LE index into the members (0 is the '' of an invalid value)
 *     SET                              1-8 bytes LE bitmask of members
 *     BIT(n)                           (n + 7) / 8 bytes BE
 *
 * Where the library reads bytes in its own way (fractions read as signed numbers, DATETIME's sign bit ignored, an
 * invalid date kept as text), we read them its way: the reference is the existing Python path, not the server.
 *
 * Rare cases call back into Python: GEOMETRY (WKB -> WKT), MariaDB JSON text (json.loads), text in charsets other
 * than utf8/latin1/binary (the codec), and `same_value` for JSON documents. FLOAT's shortest decimal (values.float32)
 * is computed here.
 *
 * The module: encode_value, encode_event, encode_lines, setup_encoder, setup_events (encoding.py), setup_decoder,
 * Plan(descriptions).rows/.updates, table_key (the decoder cache key) and float32 (row_decoder.py); _fastpath.pyi
 * types them.
 *
 * Memory safety: every read goes through `take`, which checks the bytes left before the end of the rows data.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------------------------ */
/* Python objects handed to us once, at import of the Python modules (setup_encoder / setup_decoder).           */

static PyObject *RawJsonType;      /* cdc_streamer.encoding.RawJson */
static PyObject *DecimalType;      /* decimal.Decimal */
static PyObject *encode_subclass;  /* cdc_streamer.encoding._encode_subclass */
static PyObject *float32_python;   /* cdc_streamer.values.float32 */
static PyObject *geometry_python;  /* cdc_streamer.values._geometry */
static PyObject *parse_json_text;  /* cdc_streamer.values.parse_json_text */
static PyObject *decode_text;      /* cdc_streamer.library_fixes.decode_text */
static PyObject *same_value_python;/* cdc_streamer.values.same_value */
static int32_t cp1252_table[256];  /* Python's cp1252 codec, byte -> code point, -1 where it fails */
static int decoder_ready;

static PyObject *str_f;  /* "f", the format spec of a Decimal */

static void
set_ref(PyObject **slot, PyObject *value)
{
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
}

/* ================================================================================================================== */
/* 1. The JSON encoder                                                                                           */
/* ================================================================================================================== */

/* The text is collected as UTF-8 (lone surrogates included, encoded like any other code point); `nonascii` says
 * whether the final decode can skip the UTF-8 decoder. */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int nonascii;
    char inline_buffer[1024];
} Out;

static void
out_init(Out *out)
{
    out->data = out->inline_buffer;
    out->len = 0;
    out->cap = (Py_ssize_t)sizeof(out->inline_buffer);
    out->nonascii = 0;
}

static void
out_free(Out *out)
{
    if (out->data != out->inline_buffer) {
        PyMem_Free(out->data);
    }
}

static int
out_reserve(Out *out, Py_ssize_t extra)
{
    if (extra <= out->cap - out->len) {
        return 0;
    }
    if (extra > PY_SSIZE_T_MAX / 2 - out->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t cap = out->cap * 2;
    while (cap - out->len < extra) {
        cap *= 2;
    }
    char *data;
    if (out->data == out->inline_buffer) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL) {
            memcpy(data, out->data, (size_t)out->len);
        }
    }
    else {
        data = PyMem_Realloc(out->data, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    out->data = data;
    out->cap = cap;
    return 0;
}

static int
out_write(Out *out, const char *text, Py_ssize_t n)
{
    if (out_reserve(out, n) < 0) {
        return -1;
    }
    memcpy(out->data + out->len, text, (size_t)n);
    out->len += n;
    return 0;
}

static int
out_char(Out *out, char c)
{
    if (out->len == out->cap && out_reserve(out, 1) < 0) {
        return -1;
    }
    out->data[out->len++] = c;
    return 0;
}

static PyObject *
out_finish(Out *out)
{
    PyObject *text;
    if (!out->nonascii) {
        text = PyUnicode_New(out->len, 127);
        if (text != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(text), out->data, (size_t)out->len);
        }
    }
    else {
        /* "surrogatepass" turns the UTF-8 of a lone surrogate back into that surrogate */
        text = PyUnicode_DecodeUTF8(out->data, out->len, "surrogatepass");
    }
    out_free(out);
    return text;
}

/* A str's code points as UTF-8, with no escaping (RawJson text, and the unescaped runs of a string). */
static int
out_code_point(Out *out, Py_UCS4 c)
{
    char *p;
    if (c < 0x80) {
        return out_char(out, (char)c);
    }
    if (out_reserve(out, 4) < 0) {
        return -1;
    }
    out->nonascii = 1;
    p = out->data + out->len;
    if (c < 0x800) {
        p[0] = (char)(0xC0 | (c >> 6));
        p[1] = (char)(0x80 | (c & 0x3F));
        out->len += 2;
    }
    else if (c < 0x10000) {
        p[0] = (char)(0xE0 | (c >> 12));
        p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        out->len += 3;
    }
    else {
        p[0] = (char)(0xF0 | (c >> 18));
        p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[3] = (char)(0x80 | (c & 0x3F));
        out->len += 4;
    }
    return 0;
}

static int
out_raw_str(Out *out, PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
        return out_write(out, (const char *)PyUnicode_1BYTE_DATA(text), n);
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (out_code_point(out, PyUnicode_READ(kind, data, i)) < 0) {
            return -1;
        }
    }
    return 0;
}

/* json.encoder.encode_basestring: quotes; `"` `\` and the control characters escaped, everything else as is. */
static int
out_escaped_char(Out *out, Py_UCS4 c)
{
    static const char hex[] = "0123456789abcdef";
    char escape[6] = {'\\', 'u', '0', '0', 0, 0};
    switch (c) {
    case '"': return out_write(out, "\\\"", 2);
    case '\\': return out_write(out, "\\\\", 2);
    case '\n': return out_write(out, "\\n", 2);
    case '\r': return out_write(out, "\\r", 2);
    case '\t': return out_write(out, "\\t", 2);
    case '\b': return out_write(out, "\\b", 2);
    case '\f': return out_write(out, "\\f", 2);
    default:
        escape[4] = hex[(c >> 4) & 0xF];
        escape[5] = hex[c & 0xF];
        return out_write(out, escape, 6);
    }
}

static inline int
needs_escape(Py_UCS4 c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

static int
out_json_string(Out *out, PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (out_char(out, '"') < 0) {
        return -1;
    }
    if (PyUnicode_IS_ASCII(text)) {
        const char *data = (const char *)PyUnicode_1BYTE_DATA(text);
        Py_ssize_t run = 0;  /* start of the current run of characters copied as they are */
        for (Py_ssize_t i = 0; i < n; i++) {
            if (needs_escape((unsigned char)data[i])) {
                if (out_write(out, data + run, i - run) < 0 || out_escaped_char(out, (unsigned char)data[i]) < 0) {
                    return -1;
                }
                run = i + 1;
            }
        }
        if (out_write(out, data + run, n - run) < 0) {
            return -1;
        }
    }
    else {
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if ((needs_escape(c) ? out_escaped_char(out, c) : out_code_point(out, c)) < 0) {
                return -1;
            }
        }
    }
    return out_char(out, '"');
}

static int encode_into(Out *out, PyObject *value);

static int
out_int(Out *out, PyObject *value)
{
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow) {
        /* int.__repr__ itself: it also raises int's ValueError past sys.get_int_max_str_digits() */
        PyObject *text = PyLong_Type.tp_repr(value);
        if (text == NULL) {
            return -1;
        }
        int result = out_raw_str(out, text);
        Py_DECREF(text);
        return result;
    }
    char digits[24];
    int n = 0;
    /* negate through unsigned: -LLONG_MIN does not fit a long long */
    unsigned long long magnitude = number < 0 ? 0ULL - (unsigned long long)number : (unsigned long long)number;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (number < 0) {
        digits[sizeof(digits) - 1 - n++] = '-';
    }
    return out_write(out, digits + sizeof(digits) - n, n);
}

static int
out_float(Out *out, double number)
{
    if (!isfinite(number)) {
        return out_write(out, "null", 4);
    }
    /* float.__repr__ is exactly this call */
    char *text = PyOS_double_to_string(number, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return -1;
    }
    int result = out_write(out, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return result;
}

/* format(value, "f") if value.is_finite() else "null". str(value) is three times cheaper than format() and
 * prints the same text whenever it uses no exponent (str uses plain notation for exponent <= 0 and adjusted
 * exponent >= -6, the same digits and point as "f"); with an exponent, format() itself. */
static int
out_decimal(Out *out, PyObject *value)
{
    PyObject *text = PyObject_Str(value);
    if (text == NULL) {
        return -1;
    }
    int result;
    const char *s = PyUnicode_AsUTF8(text);
    if (s == NULL) {
        Py_DECREF(text);
        return -1;
    }
    const char *first = s[0] == '-' ? s + 1 : s;
    if (*first < '0' || *first > '9') {  /* NaN, sNaN, Infinity: not finite */
        result = out_write(out, "null", 4);
    }
    else if (strpbrk(s, "eE") == NULL) {
        result = out_write(out, s, PyUnicode_GET_LENGTH(text));
    }
    else {
        PyObject *fixed = PyObject_Format(value, str_f);
        result = fixed == NULL ? -1 : out_raw_str(out, fixed);
        Py_XDECREF(fixed);
    }
    Py_DECREF(text);
    return result;
}

static int
out_dict(Out *out, PyObject *dict)
{
    Py_ssize_t position = 0, size = PyDict_GET_SIZE(dict);
    PyObject *key, *item;
    int first = 1;
    if (out_char(out, '{') < 0) {
        return -1;
    }
    while (PyDict_Next(dict, &position, &key, &item)) {
        Py_INCREF(key);  /* borrowed from the dict: keep them alive while Python code (str(), subclasses) runs */
        Py_INCREF(item);
        PyObject *text = PyObject_Str(key);
        int failed = text == NULL || (!first && out_char(out, ',') < 0) || out_json_string(out, text) < 0 ||
                     out_char(out, ':') < 0 || encode_into(out, item) < 0;
        Py_XDECREF(text);
        Py_DECREF(key);
        Py_DECREF(item);
        if (failed) {
            return -1;
        }
        if (PyDict_GET_SIZE(dict) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return -1;
        }
        first = 0;
    }
    return out_char(out, '}');
}

/* A list or a tuple; the size is read again at each step, as iterating a list in Python does. */
static int
out_array(Out *out, PyObject *sequence)
{
    if (out_char(out, '[') < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(sequence, i);
        Py_INCREF(item);
        int failed = (i > 0 && out_char(out, ',') < 0) || encode_into(out, item) < 0;
        Py_DECREF(item);
        if (failed) {
            return -1;
        }
    }
    return out_char(out, ']');
}

static int
out_subclass(Out *out, PyObject *value)
{
    PyObject *text = PyObject_CallOneArg(encode_subclass, value);
    if (text == NULL) {
        return -1;
    }
    int result;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "_encode_subclass returned %.100s, not str", Py_TYPE(text)->tp_name);
        result = -1;
    }
    else {
        result = out_raw_str(out, text);
    }
    Py_DECREF(text);
    return result;
}

static int
encode_into(Out *out, PyObject *value)
{
    PyTypeObject *kind = Py_TYPE(value);
    int result;
    if (kind == &PyUnicode_Type) {
        return out_json_string(out, value);
    }
    if (value == Py_None) {
        return out_write(out, "null", 4);
    }
    if (kind == &PyLong_Type) {
        return out_int(out, value);
    }
    if (kind == (PyTypeObject *)DecimalType) {
        return out_decimal(out, value);
    }
    if (kind == &PyFloat_Type) {
        return out_float(out, PyFloat_AS_DOUBLE(value));
    }
    if (kind == &PyBool_Type) {
        return value == Py_True ? out_write(out, "true", 4) : out_write(out, "false", 5);
    }
    if (kind == (PyTypeObject *)RawJsonType) {
        return out_raw_str(out, value);
    }
    if (kind == &PyDict_Type || kind == &PyList_Type || kind == &PyTuple_Type) {
        if (Py_EnterRecursiveCall(" while encoding a JSON value")) {
            return -1;
        }
        result = kind == &PyDict_Type ? out_dict(out, value) : out_array(out, value);
        Py_LeaveRecursiveCall();
        return result;
    }
    return out_subclass(out, value);
}

static PyObject *
fast_encode_value(PyObject *Py_UNUSED(module), PyObject *value)
{
    if (encode_subclass == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastpath.setup_encoder() was not called");
        return NULL;
    }
    Out out;
    out_init(&out);
    if (encode_into(&out, value) < 0) {
        out_free(&out);
        return NULL;
    }
    return out_finish(&out);
}

static PyObject *
setup_encoder(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *raw_json, *decimal, *subclass;
    if (!PyArg_ParseTuple(args, "O!O!O:setup_encoder", &PyType_Type, &raw_json, &PyType_Type, &decimal, &subclass)) {
        return NULL;
    }
    set_ref(&RawJsonType, raw_json);
    set_ref(&DecimalType, decimal);
    set_ref(&encode_subclass, subclass);
    Py_RETURN_NONE;
}

/* --- whole change events ----------------------------------------------------------------------------------------- */

/* A ChangeEvent as one line of Maxwell JSON, field by field in encoding.change_event_fields' order, without building
 * that dict: the streamer writes one of these per row change. Other events go through the Python encode_event. */

static PyObject *ChangeEventType;  /* cdc_streamer.event.ChangeEvent */
static PyObject *encode_event_python;  /* cdc_streamer.encoding.encode_event_python */

enum {
    A_DATABASE, A_TABLE, A_TYPE, A_TS, A_XID, A_XOFFSET, A_COMMIT, A_POSITION, A_GTID, A_SERVER_ID, A_THREAD_ID,
    A_PRIMARY_KEY, A_PRIMARY_KEY_COLUMNS, A_QUERY, A_DATA, A_OLD, A_VALUE, A_FILE, A_OFFSET, EVENT_ATTRIBUTES
};
static const char *const event_attributes[] = {
    "database", "table", "type", "ts", "xid", "xoffset", "commit", "position", "gtid", "server_id", "thread_id",
    "primary_key", "primary_key_columns", "query", "data", "old", "value", "file", "offset", NULL,
};
static PyObject *event_attribute_names[EVENT_ATTRIBUTES];

/* `"key":` then the event's attribute encoded; returns the attribute (a new reference) through `got` when asked. */
static int
out_field(Out *out, const char *key, PyObject *event, int attribute)
{
    PyObject *value = PyObject_GetAttr(event, event_attribute_names[attribute]);
    if (value == NULL) {
        return -1;
    }
    int result = out_write(out, key, (Py_ssize_t)strlen(key)) < 0 ? -1 : encode_into(out, value);
    Py_DECREF(value);
    return result;
}

/* Position objects repeat for every row of a transaction: their JSON text is kept for the next event. */
typedef struct {
    PyObject *position;  /* borrowed: compared by identity only, while `events` holds it */
    PyObject *text;      /* "file:offset" */
} PositionCache;

static int
out_position(Out *out, PyObject *event, PositionCache *cache)
{
    PyObject *position = PyObject_GetAttr(event, event_attribute_names[A_POSITION]);
    if (position == NULL) {
        return -1;
    }
    if (position != cache->position || cache->text == NULL) {
        PyObject *file = PyObject_GetAttr(position, event_attribute_names[A_FILE]);
        PyObject *offset = file == NULL ? NULL : PyObject_GetAttr(position, event_attribute_names[A_OFFSET]);
        PyObject *text = offset == NULL ? NULL : PyUnicode_FromFormat("%S:%S", file, offset);
        Py_XDECREF(file);
        Py_XDECREF(offset);
        if (text == NULL) {
            Py_DECREF(position);
            return -1;
        }
        Py_XSETREF(cache->text, text);
        cache->position = position;
    }
    Py_DECREF(position);
    return out_json_string(out, cache->text);
}

static int
out_change_event(Out *out, PyObject *event, PositionCache *cache)
{
    PyObject *kind, *kind_text, *value;
    int flag, result;
    if (out_field(out, "{\"database\":", event, A_DATABASE) < 0 || out_field(out, ",\"table\":", event, A_TABLE) < 0) {
        return -1;
    }
    kind = PyObject_GetAttr(event, event_attribute_names[A_TYPE]);  /* an Operation: its value */
    kind_text = kind == NULL ? NULL : PyObject_GetAttr(kind, event_attribute_names[A_VALUE]);
    Py_XDECREF(kind);
    if (kind_text == NULL) {
        return -1;
    }
    result = out_write(out, ",\"type\":", 8) < 0 ? -1 : encode_into(out, kind_text);
    Py_DECREF(kind_text);
    if (result < 0 || out_field(out, ",\"ts\":", event, A_TS) < 0 || out_field(out, ",\"xid\":", event, A_XID) < 0
        || out_field(out, ",\"xoffset\":", event, A_XOFFSET) < 0) {
        return -1;
    }
    value = PyObject_GetAttr(event, event_attribute_names[A_COMMIT]);
    flag = value == NULL ? -1 : PyObject_IsTrue(value);
    Py_XDECREF(value);
    if (flag < 0 || (flag && out_write(out, ",\"commit\":true", 14) < 0)) {
        return -1;
    }
    if (out_write(out, ",\"position\":", 12) < 0 || out_position(out, event, cache) < 0
        || out_field(out, ",\"gtid\":", event, A_GTID) < 0 || out_field(out, ",\"server_id\":", event, A_SERVER_ID) < 0
        || out_field(out, ",\"thread_id\":", event, A_THREAD_ID) < 0
        || out_field(out, ",\"primary_key\":", event, A_PRIMARY_KEY) < 0
        || out_field(out, ",\"primary_key_columns\":", event, A_PRIMARY_KEY_COLUMNS) < 0) {
        return -1;
    }
    /* query and old: only when not None */
    for (int optional = 0; optional < 3; optional++) {
        int attribute = optional == 0 ? A_QUERY : optional == 1 ? A_DATA : A_OLD;
        const char *key = optional == 0 ? ",\"query\":" : optional == 1 ? ",\"data\":" : ",\"old\":";
        value = PyObject_GetAttr(event, event_attribute_names[attribute]);
        if (value == NULL) {
            return -1;
        }
        result = 0;
        if (value != Py_None || attribute == A_DATA) {
            result = out_write(out, key, (Py_ssize_t)strlen(key)) < 0 ? -1 : encode_into(out, value);
        }
        Py_DECREF(value);
        if (result < 0) {
            return -1;
        }
    }
    return out_char(out, '}');
}

static int
out_event(Out *out, PyObject *event, PositionCache *cache)
{
    if ((PyObject *)Py_TYPE(event) == ChangeEventType) {
        if (Py_EnterRecursiveCall(" while encoding an event")) {
            return -1;
        }
        int result = out_change_event(out, event, cache);
        Py_LeaveRecursiveCall();
        return result;
    }
    PyObject *text = PyObject_CallOneArg(encode_event_python, event);
    if (text == NULL) {
        return -1;
    }
    int result = PyUnicode_Check(text) ? out_raw_str(out, text) : (PyErr_SetString(PyExc_TypeError, "not str"), -1);
    Py_DECREF(text);
    return result;
}

static PyObject *
fast_encode_event(PyObject *Py_UNUSED(module), PyObject *event)
{
    if (ChangeEventType == NULL || encode_subclass == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastpath.setup_events() was not called");
        return NULL;
    }
    PositionCache cache = {NULL, NULL};
    Out out;
    out_init(&out);
    int result = out_event(&out, event, &cache);
    Py_XDECREF(cache.text);
    if (result < 0) {
        out_free(&out);
        return NULL;
    }
    return out_finish(&out);
}

/* Many events, each line ended by "\n": what a JSON-lines sink writes. */
static PyObject *
fast_encode_lines(PyObject *Py_UNUSED(module), PyObject *events)
{
    if (ChangeEventType == NULL || encode_subclass == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastpath.setup_events() was not called");
        return NULL;
    }
    PyObject *sequence = PySequence_Fast(events, "encode_lines() takes a sequence of events");
    if (sequence == NULL) {
        return NULL;
    }
    PositionCache cache = {NULL, NULL};
    Out out;
    out_init(&out);
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    int result = 0;
    for (Py_ssize_t i = 0; i < count && result == 0; i++) {
        result = out_event(&out, items[i], &cache) < 0 || out_char(&out, '\n') < 0 ? -1 : 0;
    }
    Py_XDECREF(cache.text);
    Py_DECREF(sequence);
    if (result < 0) {
        out_free(&out);
        return NULL;
    }
    return out_finish(&out);
}

static PyObject *
setup_events(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *change_event, *python;
    if (!PyArg_ParseTuple(args, "O!O:setup_events", &PyType_Type, &change_event, &python)) {
        return NULL;
    }
    set_ref(&ChangeEventType, change_event);
    set_ref(&encode_event_python, python);
    Py_RETURN_NONE;
}

/* ================================================================================================================== */
/* 2. The row decoder                                                                                            */
/* ================================================================================================================== */

enum Kind {
    K_INT, K_FLOAT, K_DOUBLE, K_DECIMAL, K_TEXT, K_DATE, K_DATETIME2, K_TIMESTAMP2, K_TIME2, K_YEAR, K_ENUM,
    K_SET, K_BIT, K_GEOMETRY,
};

static const char *const kind_names[] = {
    "int", "float", "double", "decimal", "text", "date", "datetime2", "timestamp2", "time2", "year", "enum",
    "set", "bit", "geometry", NULL,
};

enum Charset { CS_UTF8, CS_CP1252, CS_BINARY, CS_PYTHON };
static const char *const charset_names[] = {"utf8", "cp1252", "binary", "python", NULL};

/* What a text value becomes (values.converter_for): bytes as base64 (`_text`), BINARY(n) bytes padded back to n
 * then base64 (`_binary_char`), or a parsed JSON document (`parse_json_text`). */
enum TextOutput { OUT_TEXT, OUT_PADDED, OUT_JSON };
static const char *const output_names[] = {"text", "padded", "json", NULL};

typedef struct {
    PyObject *name;          /* the key in the row dict */
    int kind;
    int width;               /* bytes of the value (int, enum, set, bit) or of its length prefix (text, geometry) */
    int is_unsigned;
    int precision, scale;    /* decimal */
    int read_fsp;            /* the TABLE_MAP's fsp: how many fraction bytes to read */
    int format_fsp;          /* our ColumnSpec's fsp: how many fraction digits to print */
    int first_byte_bits;     /* BIT: the bits of the first byte that belong to the value */
    int charset, output;     /* text */
    Py_ssize_t pad_length;   /* text, OUT_PADDED */
    PyObject *charset_name;  /* text, CS_PYTHON: the second argument of decode_text */
    PyObject *members;       /* ENUM: the values by index; SET: the spec's members, in order */
    Py_ssize_t member_count;
    uint64_t *member_masks;  /* SET: the bits whose member equals member i (see plan_set) */
    PyObject *zero;          /* DATE, DATETIME2, TIMESTAMP2: the zero date as printed for this column */
} Column;

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    Py_ssize_t null_bytes;
    Column *columns;
} Plan;

typedef struct {
    const unsigned char *pos;
    const unsigned char *end;
    const unsigned char *start;
} Cursor;

/* The only way a value's bytes are read: n bytes at the cursor, or ValueError. */
static const unsigned char *
take(Cursor *cursor, Py_ssize_t n, const Column *column)
{
    /* n < 0: a 4-byte length past PY_SSIZE_T_MAX on a 32-bit build */
    if (n < 0 || n > cursor->end - cursor->pos) {
        Py_ssize_t offset = (Py_ssize_t)(cursor->pos - cursor->start), left = (Py_ssize_t)(cursor->end - cursor->pos);
        if (column != NULL) {
            PyErr_Format(PyExc_ValueError, "truncated rows event: column %R needs %zd bytes at offset %zd, %zd left",
                         column->name, n, offset, left);
        }
        else {
            PyErr_Format(PyExc_ValueError, "truncated rows event: the null bitmap needs %zd bytes at offset %zd, "
                         "%zd left", n, offset, left);
        }
        return NULL;
    }
    const unsigned char *p = cursor->pos;
    cursor->pos += n;
    return p;
}

static uint64_t
uint_le(const unsigned char *p, int n)
{
    uint64_t value = 0;
    for (int i = n - 1; i >= 0; i--) {
        value = (value << 8) | p[i];
    }
    return value;
}

static uint64_t
uint_be(const unsigned char *p, int n)
{
    uint64_t value = 0;
    for (int i = 0; i < n; i++) {
        value = (value << 8) | p[i];
    }
    return value;
}

static int64_t
sign_extend(uint64_t value, int bytes)
{
    if (bytes < 8 && (value >> (8 * bytes - 1)) & 1) {
        value |= ~(uint64_t)0 << (8 * bytes);
    }
    return (int64_t)value;
}

static const int64_t powers_of_ten[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
                                          1000000000};

static PyObject *
ascii_text(const char *text, Py_ssize_t n)
{
    PyObject *result = PyUnicode_New(n, 127);
    if (result != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(result), text, (size_t)n);
    }
    return result;
}

/* `value` in decimal, at least `width` digits (zero-padded, like %0*d); value >= 0. Returns the end. */
static char *
put_digits(char *p, int64_t value, int width)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char digits[24];
    int n = 0;
    while (value >= 100) {  /* two digits at a time, from the right */
        int pair = (int)(value % 100);
        value /= 100;
        digits[n++] = pairs[2 * pair + 1];
        digits[n++] = pairs[2 * pair];
    }
    if (value >= 10) {
        digits[n++] = pairs[2 * value + 1];
        digits[n++] = pairs[2 * value];
    }
    else {
        digits[n++] = (char)('0' + value);
    }
    while (n < width) {
        digits[n++] = '0';
    }
    while (n) {
        *p++ = digits[--n];
    }
    return p;
}

/* --- numbers ------------------------------------------------------------------------------------------------------ */

static PyObject *
read_int(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, column->width, column);
    if (p == NULL) {
        return NULL;
    }
    uint64_t value = uint_le(p, column->width);
    if (column->is_unsigned) {
        return PyLong_FromUnsignedLongLong(value);
    }
    return PyLong_FromLongLong(sign_extend(value, column->width));
}

static double
ieee_le(const unsigned char *p, int bytes)
{
    uint64_t bits = uint_le(p, bytes);
    if (bytes == 4) {
        uint32_t narrow = (uint32_t)bits;
        float single;
        memcpy(&single, &narrow, 4);
        return single;
    }
    double wide;
    memcpy(&wide, &bits, 8);
    return wide;
}

/* values.float32: the shortest decimal that reads back as the same 32-bit float, as a double.
 *
 * The Python version tries, for 1 to 9 significant digits, the nearest decimal of that length (`format(value,
 * ".{d-1}e")`, correctly rounded, ties to even) and its two neighbours one unit in the last place away, and keeps
 * the fitting one nearest to the value; a candidate fits if float(candidate) rounds to the same float32.
 *
 * Here: the value's exact decimal expansion once (a float32 has at most 112 significant digits), rounded to d
 * digits by looking at the digits after them. Decimal -> double -> float32 is monotonic, so the decimals that fit
 * form an interval around the value: if the nearest one does not fit, at most one neighbour can. A candidate
 * M * 10^E becomes a double with one multiplication or division when M and 10^|E| are exact doubles (|E| <= 22),
 * which is then correctly rounded (Clinger's fast path), else through PyOS_string_to_double (what float(Decimal)
 * uses). A case the reasoning above rules out (both neighbours fit) is handed to the Python function. */
#define EXACT_DIGITS 121

static double
decimal_to_double(long long mantissa, int exponent)
{
    static const double exact_powers[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                            1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#if FLT_EVAL_METHOD == 0  /* double arithmetic is done in double: one operation, one correct rounding */
    if (exponent >= 0 && exponent <= 22) {
        return (double)mantissa * exact_powers[exponent];
    }
    if (exponent < 0 && exponent >= -22) {
        return (double)mantissa / exact_powers[-exponent];
    }
#else
    (void)exact_powers;
#endif
    char buffer[48];
    snprintf(buffer, sizeof(buffer), "%llde%d", mantissa, exponent);
    return PyOS_string_to_double(buffer, NULL, NULL);  /* cannot fail on this text */
}

static PyObject *
float32_of(double value)
{
    float target = (float)value;
    if (!isfinite(value) || value == 0.0 || isinf(target)) {
        return PyFloat_FromDouble(value);
    }
    /* "d.ddd...e+XX": 121 significant digits, exact for any float32 */
    char *text = PyOS_double_to_string(fabs(value), 'e', EXACT_DIGITS - 1, 0, NULL);
    if (text == NULL) {
        return NULL;
    }
    char digits[EXACT_DIGITS];
    int count = 0;
    const char *p = text;
    for (; *p != 'e' && count < EXACT_DIGITS; p++) {
        if (*p >= '0' && *p <= '9') {
            digits[count++] = *p;
        }
    }
    int point = atoi(strchr(text, 'e') + 1);  /* value = d.ddd * 10^point */
    PyMem_Free(text);
    double sign = value < 0 ? -1.0 : 1.0;

    for (int length = 1; length <= 9; length++) {
        long long mantissa = 0;
        for (int i = 0; i < length; i++) {
            mantissa = mantissa * 10 + (digits[i] - '0');
        }
        /* round half to even on what follows the first `length` digits */
        int above_half = digits[length] > '5', half = digits[length] == '5';
        if (half) {
            for (int i = length + 1; i < count; i++) {
                if (digits[i] != '0') {
                    above_half = 1;
                    break;
                }
            }
        }
        int exponent = point - (length - 1);
        if (above_half || (half && (mantissa & 1))) {
            mantissa++;
            if (mantissa == powers_of_ten[length]) {  /* 9.99 -> 10.0: one digit too many */
                mantissa /= 10;
                exponent++;
            }
        }
        double candidates[3];
        int fits[3];
        for (int k = 0; k < 3; k++) {  /* nearest, nearest - 1 unit, nearest + 1 unit (in magnitude) */
            candidates[k] = sign * decimal_to_double(mantissa + (k == 0 ? 0 : k == 1 ? -1 : 1), exponent);
            fits[k] = (float)candidates[k] == target;
        }
        if (fits[0]) {
            return PyFloat_FromDouble(candidates[0]);
        }
        if (fits[1] && fits[2]) {
            PyObject *wide = PyFloat_FromDouble(value);
            PyObject *result = wide == NULL ? NULL : PyObject_CallOneArg(float32_python, wide);
            Py_XDECREF(wide);
            return result;
        }
        if (fits[1] || fits[2]) {
            return PyFloat_FromDouble(candidates[fits[1] ? 1 : 2]);
        }
    }
    return PyFloat_FromDouble(value);
}

/* MySQL's packed DECIMAL(precision, scale): the integer digits, then the fraction digits, each side in groups
 * of 9 digits stored as 4 big-endian bytes; the leftover digits of the integer part (leading) and of the fraction
 * (trailing) take 1-4 bytes. The sign bit is the high bit of the first byte, inverted (1 = non-negative); a
 * negative number has all its bits inverted. The library builds "[-]<int digits>.<fraction digits>" from the
 * groups and calls Decimal() on it; so do we (Decimal() parses its own text: same value, same exponent). */
static const int digits_bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static int
decimal_size(int precision, int scale)
{
    int integral = precision - scale;
    return integral / 9 * 4 + digits_bytes[integral % 9] + scale / 9 * 4 + digits_bytes[scale % 9];
}

/* One group of `digits` digits in `bytes` bytes; appended zero-padded unless it leads the number. */
static char *
decimal_group(const Column *column, unsigned char *bytes, int size, int digits, int pad, char *p)
{
    int64_t group = sign_extend(uint_be(bytes, size), size);
    if (group < 0 || group >= powers_of_ten[digits]) {
        PyErr_Format(PyExc_ValueError, "malformed DECIMAL value in column %R", column->name);
        return NULL;
    }
    return put_digits(p, group, pad ? digits : 1);
}

static PyObject *
read_decimal(const Column *column, Cursor *cursor)
{
    int integral = column->precision - column->scale;
    int size = decimal_size(column->precision, column->scale);
    const unsigned char *raw = take(cursor, size, column);
    if (raw == NULL) {
        return NULL;
    }
    unsigned char bytes[40];  /* precision <= 65: at most 30 bytes */
    int negative = !(raw[0] & 0x80);
    for (int i = 0; i < size; i++) {
        bytes[i] = negative ? (unsigned char)~raw[i] : raw[i];
    }
    bytes[0] ^= 0x80;  /* the sign bit is not part of the digits */

    char text[96], *p = text;
    unsigned char *group = bytes;
    if (negative) {
        *p++ = '-';
    }
    int leading = integral % 9;
    if (leading) {
        p = decimal_group(column, group, digits_bytes[leading], leading, 0, p);
        group += digits_bytes[leading];
    }
    for (int i = 0; p != NULL && i < integral / 9; i++, group += 4) {
        p = decimal_group(column, group, 4, 9, 1, p);
    }
    if (p == NULL) {
        return NULL;
    }
    *p++ = '.';
    for (int i = 0; p != NULL && i < column->scale / 9; i++, group += 4) {
        p = decimal_group(column, group, 4, 9, 1, p);
    }
    int trailing = column->scale % 9;
    if (p != NULL && trailing) {
        p = decimal_group(column, group, digits_bytes[trailing], trailing, 1, p);
    }
    if (p == NULL) {
        return NULL;
    }
    PyObject *literal = ascii_text(text, p - text);
    if (literal == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallOneArg(DecimalType, literal);
    Py_DECREF(literal);
    return result;
}

/* --- dates and times ---------------------------------------------------------------------------------------------- */

/* The fraction after a DATETIME2/TIMESTAMP2/TIME2: (fsp + 1) / 2 big-endian bytes, read signed as the library
 * does, in microseconds. */
static int
read_fraction(const Column *column, Cursor *cursor, int64_t *micros)
{
    int fsp = column->read_fsp;
    int size = (fsp + 1) / 2;
    *micros = 0;
    if (size == 0) {
        return 0;
    }
    const unsigned char *p = take(cursor, size, column);
    if (p == NULL) {
        return -1;
    }
    int64_t value = sign_extend(uint_be(p, size), size);
    if (fsp % 2) {
        value /= 10;  /* truncates toward zero, as the library's int(value / 10) */
    }
    *micros = value * powers_of_ten[6 - fsp];
    return 0;
}

/* values.format_fraction: "." and the first fsp digits of the 6-digit microseconds (%06d, sign included). */
static char *
put_fraction(char *p, int64_t micros, int fsp)
{
    if (fsp <= 0) {
        return p;
    }
    char digits[32];
    if (micros >= 0 && micros <= 999999) {
        put_digits(digits, micros, 6);
    }
    else {  /* an invalid fraction the library prints as it is (%06d: a sign, or more than 6 digits) */
        snprintf(digits, sizeof(digits), "%06lld", (long long)micros);
    }
    *p++ = '.';
    memcpy(p, digits, (size_t)fsp);  /* at least 6 characters, and fsp <= 6 */
    return p + fsp;
}

/* Two digits of 0..99, the common case of put_digits. */
static inline char *
put2(char *p, int64_t value)
{
    if (value < 0 || value > 99) {
        return put_digits(p, value, 2);
    }
    p[0] = (char)('0' + value / 10);
    p[1] = (char)('0' + value % 10);
    return p + 2;
}

static char *
put_datetime(char *p, int64_t year, int64_t month, int64_t day, int64_t hour, int64_t minute, int64_t second)
{
    p = put_digits(p, year, 4);
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    p = put2(p, day);
    *p++ = ' ';
    p = put2(p, hour);
    *p++ = ':';
    p = put2(p, minute);
    *p++ = ':';
    return put2(p, second);
}

static int
days_in_month(int64_t year, int64_t month)
{
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month];
}

/* What datetime.date() accepts. */
static int
valid_date(int64_t year, int64_t month, int64_t day)
{
    return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

/* library_fixes._read_date, then values._date: 0 is the zero date (spelled by its none source), any other value
 * prints as YYYY-MM-DD whether Python can represent it (isoformat) or not (the invalid date as text). */
static PyObject *
read_date(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, 3, column);
    if (p == NULL) {
        return NULL;
    }
    uint64_t packed = uint_le(p, 3);
    if (packed == 0) {
        return Py_NewRef(column->zero);
    }
    char text[16], *end = text;
    end = put_digits(end, (int64_t)(packed >> 9), 4);
    *end++ = '-';
    end = put2(end, (int64_t)((packed >> 5) & 0x0F));
    *end++ = '-';
    end = put2(end, (int64_t)(packed & 0x1F));
    return ascii_text(text, end - text);
}

/* library_fixes._read_datetime2, then values._datetime or the zero datetime. */
static PyObject *
read_datetime2(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, 5, column);
    int64_t micros;
    if (p == NULL || read_fraction(column, cursor, &micros) < 0) {
        return NULL;
    }
    uint64_t packed = uint_be(p, 5);
    int64_t year_month = (int64_t)((packed >> 22) & 0x1FFFF);
    int64_t year = year_month / 13, month = year_month % 13;
    int64_t day = (int64_t)((packed >> 17) & 0x1F), hour = (int64_t)((packed >> 12) & 0x1F);
    int64_t minute = (int64_t)((packed >> 6) & 0x3F), second = (int64_t)(packed & 0x3F);
    int valid = valid_date(year, month, day) && hour < 24 && minute < 60 && second < 60 && micros >= 0 &&
                micros <= 999999;
    if (!valid && packed == 0x8000000000ULL && micros == 0) {
        return Py_NewRef(column->zero);
    }
    char text[64];
    char *end = put_datetime(text, year, month, day, hour, minute, second);
    /* a valid datetime prints with our spec's fsp (format_datetime), an invalid one with the TABLE_MAP's */
    end = put_fraction(end, micros, valid ? column->format_fsp : column->read_fsp);
    return ascii_text(text, end - text);
}

/* datetime.utcfromtimestamp(seconds) [.replace(microsecond=...)], then values._timestamp. */
static PyObject *
read_timestamp2(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, 4, column);
    int64_t micros;
    if (p == NULL || read_fraction(column, cursor, &micros) < 0) {
        return NULL;
    }
    int64_t seconds = sign_extend(uint_be(p, 4), 4);
    if (micros > 999999) {
        PyErr_Format(PyExc_ValueError, "malformed TIMESTAMP fraction in column %R", column->name);
        return NULL;
    }
    if (micros < 0) {
        micros = 0;  /* the library only adds a fraction > 0 */
    }
    if (seconds == 0 && micros == 0) {
        return Py_NewRef(column->zero);  /* TIMESTAMP 0 is MySQL's zero timestamp */
    }
    /* days since 1970-01-01 -> civil date (Howard Hinnant's days_from_civil, inverted) */
    int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    int64_t in_day = seconds - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = year_of_era + era * 400 + (month <= 2);
    char text[64];
    char *end = put_datetime(text, year, month, day, in_day / 3600, in_day / 60 % 60, in_day % 60);
    end = put_fraction(end, micros, column->format_fsp);
    return ascii_text(text, end - text);
}

/* The library's __read_time2, then values.format_time. The library reads the 24-bit integer part, negates it
 * when the sign bit is 0, reads the fraction as a signed number and multiplies the whole timedelta by the sign.
 * (For a negative time with a fraction MySQL stores the fraction differently, so '-00:00:01.10' reads back as
 * -00:00:01.90; we reproduce the library, which is the reference here.) */
static PyObject *
read_time2(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, 3, column);
    int64_t micros;
    if (p == NULL || read_fraction(column, cursor, &micros) < 0) {
        return NULL;
    }
    uint64_t bits = uint_be(p, 3);
    int negative = !(bits & 0x800000);
    if (negative) {
        bits = (0x1000000 - bits) & 0xFFFFFF;  /* ~data + 1, seen through 24-bit masks */
    }
    int64_t hours = (int64_t)((bits >> 12) & 0x3FF), minutes = (int64_t)((bits >> 6) & 0x3F);
    int64_t seconds = (int64_t)(bits & 0x3F);
    int64_t total = ((hours * 60 + minutes) * 60 + seconds) * 1000000 + micros;
    if (negative) {
        total = -total;
    }
    uint64_t magnitude = total < 0 ? (uint64_t)(-total) : (uint64_t)total;
    char text[64], *end = text;
    if (total < 0) {
        *end++ = '-';
    }
    uint64_t whole = magnitude / 1000000;
    end = put_digits(end, (int64_t)(whole / 3600), 2);
    *end++ = ':';
    end = put2(end, (int64_t)(whole / 60 % 60));
    *end++ = ':';
    end = put2(end, (int64_t)(whole % 60));
    end = put_fraction(end, (int64_t)(magnitude % 1000000), column->format_fsp);
    return ascii_text(text, end - text);
}

/* --- text and bytes ----------------------------------------------------------------------------------------------- */

static PyObject *
base64_text(const unsigned char *data, Py_ssize_t n, Py_ssize_t padded_to)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_ssize_t total = n > padded_to ? n : padded_to;  /* bytes.ljust(padded_to, b"\0") */
    if (total > (PY_SSIZE_T_MAX - 3) / 4 * 3) {
        return PyErr_NoMemory();
    }
    PyObject *result = PyUnicode_New((total + 2) / 3 * 4, 127);
    if (result == NULL) {
        return NULL;
    }
    char *out = (char *)PyUnicode_1BYTE_DATA(result);
    for (Py_ssize_t i = 0; i < total; i += 3) {
        uint32_t chunk = 0;
        int have = total - i < 3 ? (int)(total - i) : 3;
        for (int k = 0; k < 3; k++) {
            unsigned char byte = i + k < n ? data[i + k] : 0;  /* past the data: the padding zeros */
            chunk = (chunk << 8) | (k < have ? byte : 0);
        }
        *out++ = alphabet[(chunk >> 18) & 0x3F];
        *out++ = alphabet[(chunk >> 12) & 0x3F];
        *out++ = have > 1 ? alphabet[(chunk >> 6) & 0x3F] : '=';
        *out++ = have > 2 ? alphabet[chunk & 0x3F] : '=';
    }
    return result;
}

/* Latin-1 columns decode with Python's cp1252 (library_fixes.python_codec); five bytes have no cp1252 character,
 * and text holding one stays bytes. NULL without an exception: not decodable. */
static PyObject *
decode_cp1252(const unsigned char *data, Py_ssize_t n)
{
    Py_UCS4 widest = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t c = cp1252_table[data[i]];
        if (c < 0) {
            return NULL;
        }
        if ((Py_UCS4)c > widest) {
            widest = (Py_UCS4)c;
        }
    }
    PyObject *text = PyUnicode_New(n, widest);
    if (text == NULL) {
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    void *out = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyUnicode_WRITE(kind, out, i, (Py_UCS4)cp1252_table[data[i]]);
    }
    return text;
}

/* library_fixes.decode_text: str, or the bytes themselves when they do not decode. */
static PyObject *
decode_column_text(const Column *column, const unsigned char *data, Py_ssize_t n)
{
    PyObject *text;
    switch (column->charset) {
    case CS_UTF8:
        text = PyUnicode_DecodeUTF8((const char *)data, n, NULL);
        if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            return PyBytes_FromStringAndSize((const char *)data, n);
        }
        return text;
    case CS_CP1252:
        text = decode_cp1252(data, n);
        if (text == NULL && !PyErr_Occurred()) {
            return PyBytes_FromStringAndSize((const char *)data, n);
        }
        return text;
    case CS_BINARY:
        return PyBytes_FromStringAndSize((const char *)data, n);
    default: {
        PyObject *raw = PyBytes_FromStringAndSize((const char *)data, n);
        if (raw == NULL) {
            return NULL;
        }
        text = PyObject_CallFunctionObjArgs(decode_text, raw, column->charset_name, NULL);
        Py_DECREF(raw);
        return text;
    }
    }
}

/* The length-prefixed bytes of a text, blob or geometry value. */
static const unsigned char *
read_counted(const Column *column, Cursor *cursor, Py_ssize_t *n)
{
    const unsigned char *prefix = take(cursor, column->width, column);
    if (prefix == NULL) {
        return NULL;
    }
    uint64_t length = uint_le(prefix, column->width);  /* width <= 4: fits a Py_ssize_t */
    *n = (Py_ssize_t)length;
    return take(cursor, (Py_ssize_t)length, column);
}

static PyObject *
read_text(const Column *column, Cursor *cursor)
{
    Py_ssize_t n;
    const unsigned char *data = read_counted(column, cursor, &n);
    if (data == NULL) {
        return NULL;
    }
    if (column->charset == CS_BINARY && column->output != OUT_JSON) {  /* bytes: straight to base64 */
        return base64_text(data, n, column->output == OUT_PADDED ? column->pad_length : 0);
    }
    PyObject *value = decode_column_text(column, data, n);
    if (value == NULL) {
        return NULL;
    }
    if (column->output == OUT_JSON) {
        Py_SETREF(value, PyObject_CallOneArg(parse_json_text, value));
    }
    else if (PyBytes_Check(value)) {
        Py_SETREF(value, base64_text((const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value),
                                     column->output == OUT_PADDED ? column->pad_length : 0));
    }
    return value;
}

static PyObject *
read_geometry(const Column *column, Cursor *cursor)
{
    Py_ssize_t n;
    const unsigned char *data = read_counted(column, cursor, &n);
    if (data == NULL) {
        return NULL;
    }
    PyObject *raw = PyBytes_FromStringAndSize((const char *)data, n);
    if (raw == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallOneArg(geometry_python, raw);
    Py_DECREF(raw);
    return result;
}

/* --- enum, set, bit, year ----------------------------------------------------------------------------------------- */

static PyObject *
read_enum(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, column->width, column);
    if (p == NULL) {
        return NULL;
    }
    uint64_t index = uint_le(p, column->width);
    if (index >= (uint64_t)column->member_count) {
        PyErr_Format(PyExc_ValueError, "ENUM index %llu out of range in column %R", (unsigned long long)index,
                     column->name);
        return NULL;
    }
    return Py_NewRef(PyTuple_GET_ITEM(column->members, (Py_ssize_t)index));
}

/* The library returns the set of members whose bit is set (None when empty: `[]` by its none source); values._set
 * then lists our spec's members that are in it, in order. Member i is in it when a bit of member_masks[i] is set:
 * the bits of every member equal to it (one bit, unless the TABLE_MAP lists a value twice). */
static PyObject *
read_set(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, column->width, column);
    if (p == NULL) {
        return NULL;
    }
    uint64_t mask = uint_le(p, column->width);
    PyObject *result = PyList_New(0);
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < column->member_count; i++) {
        if ((mask & column->member_masks[i]) && PyList_Append(result, PyTuple_GET_ITEM(column->members, i)) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* The library's string of bits (the low `first_byte_bits` of the first byte, then 8 per byte) read by int(_, 2). */
static PyObject *
read_bit(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, column->width, column);
    if (p == NULL) {
        return NULL;
    }
    uint64_t value = p[0] & ((1u << column->first_byte_bits) - 1);
    for (int i = 1; i < column->width; i++) {
        value = (value << 8) | p[i];
    }
    return PyLong_FromUnsignedLongLong(value);
}

static PyObject *
read_year(const Column *column, Cursor *cursor)
{
    const unsigned char *p = take(cursor, 1, column);
    if (p == NULL) {
        return NULL;
    }
    return PyLong_FromLong(p[0] ? 1900 + p[0] : 0);  /* values._year: the library's 1900 is YEAR 0000 */
}

static PyObject *
read_value(const Column *column, Cursor *cursor)
{
    const unsigned char *p;
    switch (column->kind) {
    case K_INT:
        return read_int(column, cursor);
    case K_DOUBLE:
        p = take(cursor, 8, column);
        return p == NULL ? NULL : PyFloat_FromDouble(ieee_le(p, 8));
    case K_FLOAT:
        p = take(cursor, 4, column);
        return p == NULL ? NULL : float32_of(ieee_le(p, 4));
    case K_DECIMAL:
        return read_decimal(column, cursor);
    case K_TEXT:
        return read_text(column, cursor);
    case K_DATE:
        return read_date(column, cursor);
    case K_DATETIME2:
        return read_datetime2(column, cursor);
    case K_TIMESTAMP2:
        return read_timestamp2(column, cursor);
    case K_TIME2:
        return read_time2(column, cursor);
    case K_YEAR:
        return read_year(column, cursor);
    case K_ENUM:
        return read_enum(column, cursor);
    case K_SET:
        return read_set(column, cursor);
    case K_BIT:
        return read_bit(column, cursor);
    case K_GEOMETRY:
        return read_geometry(column, cursor);
    }
    PyErr_SetString(PyExc_SystemError, "unknown column kind");
    return NULL;
}

/* --- rows --------------------------------------------------------------------------------------------------------- */

static void
clear_values(PyObject **values, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_CLEAR(values[i]);
    }
}

/* One row image into values[0..count) (new references; None for NULL). On error, values holds no references. */
static int
read_image(Plan *plan, Cursor *cursor, PyObject **values)
{
    const unsigned char *nulls = take(cursor, plan->null_bytes, NULL);
    if (nulls == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        if (nulls[i >> 3] & (1 << (i & 7))) {
            values[i] = Py_NewRef(Py_None);
            continue;
        }
        values[i] = read_value(&plan->columns[i], cursor);
        if (values[i] == NULL) {
            clear_values(values, i);
            return -1;
        }
    }
    return 0;
}

/* A dict sized for the row up front: no resize while its keys go in. */
static PyObject *
new_row(Py_ssize_t count)
{
#if PY_VERSION_HEX < 0x030D0000
    return _PyDict_NewPresized(count);
#else
    (void)count;
    return PyDict_New();
#endif
}

static PyObject *
row_dict(Plan *plan, PyObject **values)
{
    PyObject *row = new_row(plan->count);
    if (row == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        if (PyDict_SetItem(row, plan->columns[i].name, values[i]) < 0) {
            Py_DECREF(row);
            return NULL;
        }
    }
    return row;
}

/* values.same_value for two values of one column. Decimals of one column all have the column's scale as exponent,
 * so for them same_value's exponent check adds nothing to ==. JSON documents use the Python function. */
static int
same_value(const Column *column, PyObject *a, PyObject *b)
{
    if (Py_TYPE(a) != Py_TYPE(b)) {
        return 0;
    }
    if (a == Py_None) {
        return 1;
    }
    if (column->kind == K_TEXT && column->output == OUT_JSON) {
        PyObject *result = PyObject_CallFunctionObjArgs(same_value_python, a, b, NULL);
        if (result == NULL) {
            return -1;
        }
        int truth = PyObject_IsTrue(result);
        Py_DECREF(result);
        return truth;
    }
    if (PyFloat_CheckExact(a)) {
        return PyFloat_AS_DOUBLE(a) == PyFloat_AS_DOUBLE(b);  /* no identity shortcut: nan is not nan */
    }
    if (PyList_CheckExact(a)) {  /* SET: lists of str */
        Py_ssize_t n = PyList_GET_SIZE(a);
        if (n != PyList_GET_SIZE(b)) {
            return 0;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *x = PyList_GET_ITEM(a, i), *y = PyList_GET_ITEM(b, i);
            if (Py_TYPE(x) != Py_TYPE(y)) {
                return 0;
            }
            int equal = PyObject_RichCompareBool(x, y, Py_EQ);
            if (equal <= 0) {
                return equal;
            }
        }
        return 1;
    }
    /* bool(a == b), not PyObject_RichCompareBool, which calls an object equal to itself */
    PyObject *result = PyObject_RichCompare(a, b, Py_EQ);
    if (result == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(result);
    Py_DECREF(result);
    return truth;
}

/* values.changed_columns(before, after): the before values of the columns whose value changed. */
static PyObject *
changed_columns(Plan *plan, PyObject **before, PyObject **after)
{
    PyObject *old = PyDict_New();
    if (old == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        int same = same_value(&plan->columns[i], after[i], before[i]);
        if (same < 0 || (!same && PyDict_SetItem(old, plan->columns[i].name, before[i]) < 0)) {
            Py_DECREF(old);
            return NULL;
        }
    }
    return old;
}

typedef struct {
    Py_buffer buffer;
    Cursor cursor;
    PyObject **values;  /* 2 * count slots: the before and after images of an update */
} Rows;

static int
rows_open(Plan *plan, PyObject *args, Rows *rows)
{
    Py_ssize_t start, end;
    if (!decoder_ready) {
        PyErr_SetString(PyExc_RuntimeError, "_fastpath.setup_decoder() was not called");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "y*nn", &rows->buffer, &start, &end)) {
        return -1;
    }
    if (start < 0 || end < start || end > rows->buffer.len) {
        PyErr_Format(PyExc_ValueError, "truncated rows event: rows data [%zd, %zd) is not within the %zd bytes read",
                     start, end, rows->buffer.len);
        PyBuffer_Release(&rows->buffer);
        return -1;
    }
    rows->cursor.start = (const unsigned char *)rows->buffer.buf + start;
    rows->cursor.pos = rows->cursor.start;
    rows->cursor.end = (const unsigned char *)rows->buffer.buf + end;
    rows->values = PyMem_Calloc((size_t)(2 * plan->count + 1), sizeof(PyObject *));
    if (rows->values == NULL) {
        PyBuffer_Release(&rows->buffer);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *
rows_close(Rows *rows, PyObject *result)
{
    PyMem_Free(rows->values);
    PyBuffer_Release(&rows->buffer);
    return result;
}

static PyObject *
plan_rows(PyObject *self, PyObject *args)
{
    Plan *plan = (Plan *)self;
    Rows rows;
    if (rows_open(plan, args, &rows) < 0) {
        return NULL;
    }
    PyObject *result = PyList_New(0);
    while (result != NULL && rows.cursor.pos < rows.cursor.end) {
        PyObject *row = NULL;
        if (read_image(plan, &rows.cursor, rows.values) == 0) {
            row = row_dict(plan, rows.values);
            clear_values(rows.values, plan->count);
        }
        if (row == NULL || PyList_Append(result, row) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(row);
    }
    return rows_close(&rows, result);
}

static PyObject *
plan_updates(PyObject *self, PyObject *args)
{
    Plan *plan = (Plan *)self;
    Rows rows;
    if (rows_open(plan, args, &rows) < 0) {
        return NULL;
    }
    PyObject **before = rows.values, **after = rows.values + plan->count;
    PyObject *result = PyList_New(0);
    while (result != NULL && rows.cursor.pos < rows.cursor.end) {
        PyObject *pair = NULL;
        if (read_image(plan, &rows.cursor, before) == 0) {
            if (read_image(plan, &rows.cursor, after) == 0) {
                PyObject *row = row_dict(plan, after);
                PyObject *old = row == NULL ? NULL : changed_columns(plan, before, after);
                if (old != NULL) {
                    pair = PyTuple_Pack(2, row, old);
                }
                Py_XDECREF(row);
                Py_XDECREF(old);
                clear_values(after, plan->count);
            }
            clear_values(before, plan->count);
        }
        if (pair == NULL || PyList_Append(result, pair) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(pair);
    }
    return rows_close(&rows, result);
}

/* --- building a plan ---------------------------------------------------------------------------------------------- */

/* A field of a column description (a dict from row_decoder.py): an int, a str or any object. */
static int
field_int(PyObject *description, const char *key, long low, long high, int *out)
{
    PyObject *value = PyDict_GetItemString(description, key);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "column description without %s", key);
        return -1;
    }
    long number = PyLong_AsLong(value);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (number < low || number > high) {
        PyErr_Format(PyExc_ValueError, "column description: %s=%ld is outside %ld..%ld", key, number, low, high);
        return -1;
    }
    *out = (int)number;
    return 0;
}

static int
field_choice(PyObject *description, const char *key, const char *const *names, int *out)
{
    PyObject *value = PyDict_GetItemString(description, key);
    const char *text = value != NULL && PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;
    if (text == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "column description: %s must be a str", key);
        }
        return -1;
    }
    for (int i = 0; names[i] != NULL; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "column description: unknown %s %R", key, value);
    return -1;
}

static int
field_object(PyObject *description, const char *key, PyTypeObject *type, PyObject **out)
{
    PyObject *value = PyDict_GetItemString(description, key);
    if (value == NULL || (type != NULL && !PyObject_TypeCheck(value, type))) {
        PyErr_Format(PyExc_ValueError, "column description: %s missing or not a %s", key,
                     type != NULL ? type->tp_name : "value");
        return -1;
    }
    *out = Py_NewRef(value);
    return 0;
}

static int
plan_set(Column *column, PyObject *description)
{
    PyObject *masks;
    if (field_object(description, "members", &PyTuple_Type, &column->members) < 0 ||
        field_object(description, "masks", &PyTuple_Type, &masks) < 0) {
        return -1;
    }
    column->member_count = PyTuple_GET_SIZE(column->members);
    int result = 0;
    if (PyTuple_GET_SIZE(masks) != column->member_count) {
        PyErr_SetString(PyExc_ValueError, "column description: one mask per SET member");
        result = -1;
    }
    else {
        column->member_masks = PyMem_Calloc((size_t)column->member_count + 1, sizeof(uint64_t));
        if (column->member_masks == NULL) {
            PyErr_NoMemory();
            result = -1;
        }
        for (Py_ssize_t i = 0; result == 0 && i < column->member_count; i++) {
            unsigned long long mask = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(masks, i));
            if (mask == (unsigned long long)-1 && PyErr_Occurred()) {
                result = -1;
            }
            column->member_masks[i] = mask;
        }
    }
    Py_DECREF(masks);
    return result;
}

static int
plan_column(Column *column, PyObject *description)
{
    if (!PyDict_Check(description)) {
        PyErr_SetString(PyExc_TypeError, "a column description is a dict");
        return -1;
    }
    if (field_object(description, "name", &PyUnicode_Type, &column->name) < 0 ||
        field_choice(description, "kind", kind_names, &column->kind) < 0) {
        return -1;
    }
    switch (column->kind) {
    case K_INT:
        if (field_int(description, "width", 1, 8, &column->width) < 0 ||
            field_int(description, "unsigned", 0, 1, &column->is_unsigned) < 0) {
            return -1;
        }
        return 0;
    case K_DECIMAL:
        if (field_int(description, "precision", 1, 65, &column->precision) < 0 ||
            field_int(description, "scale", 0, column->precision, &column->scale) < 0) {
            return -1;
        }
        return 0;
    case K_TEXT:
        if (field_int(description, "width", 1, 4, &column->width) < 0 ||
            field_choice(description, "charset", charset_names, &column->charset) < 0 ||
            field_choice(description, "output", output_names, &column->output) < 0) {
            return -1;
        }
        if (column->output == OUT_PADDED) {
            int pad;
            if (field_int(description, "pad_length", 0, 1 << 20, &pad) < 0) {
                return -1;
            }
            column->pad_length = pad;
        }
        if (column->charset == CS_PYTHON) {
            return field_object(description, "charset_name", NULL, &column->charset_name);
        }
        return 0;
    case K_GEOMETRY:
        return field_int(description, "width", 1, 4, &column->width);
    case K_DATETIME2:
    case K_TIMESTAMP2:
    case K_DATE:
    case K_TIME2:
        if (column->kind != K_DATE &&
            (field_int(description, "read_fsp", 0, 6, &column->read_fsp) < 0 ||
             field_int(description, "format_fsp", 0, 6, &column->format_fsp) < 0)) {
            return -1;
        }
        if (column->kind != K_TIME2) {
            return field_object(description, "zero", &PyUnicode_Type, &column->zero);
        }
        return 0;
    case K_ENUM:
        if (field_int(description, "width", 1, 8, &column->width) < 0 ||
            field_object(description, "members", &PyTuple_Type, &column->members) < 0) {
            return -1;
        }
        column->member_count = PyTuple_GET_SIZE(column->members);
        return 0;
    case K_SET:
        if (field_int(description, "width", 1, 8, &column->width) < 0) {
            return -1;
        }
        return plan_set(column, description);
    case K_BIT:
        if (field_int(description, "width", 1, 8, &column->width) < 0 ||
            field_int(description, "first_byte_bits", 1, 8, &column->first_byte_bits) < 0) {
            return -1;
        }
        return 0;
    default:  /* float, double, year: nothing more */
        return 0;
    }
}

static void
plan_dealloc(PyObject *self)
{
    Plan *plan = (Plan *)self;
    if (plan->columns != NULL) {
        for (Py_ssize_t i = 0; i < plan->count; i++) {
            Column *column = &plan->columns[i];
            Py_XDECREF(column->name);
            Py_XDECREF(column->charset_name);
            Py_XDECREF(column->members);
            Py_XDECREF(column->zero);
            PyMem_Free(column->member_masks);
        }
        PyMem_Free(plan->columns);
    }
    Py_TYPE(plan)->tp_free((PyObject *)plan);
}

static PyObject *
plan_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *descriptions;
    static char *keywords[] = {"columns", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Plan", keywords, &PyTuple_Type, &descriptions)) {
        return NULL;
    }
    Plan *plan = (Plan *)type->tp_alloc(type, 0);
    if (plan == NULL) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(descriptions);
    if (count == 0) {  /* a row image would then take no bytes: the loop over rows would never end */
        PyErr_SetString(PyExc_ValueError, "a table has at least one column");
        Py_DECREF(plan);
        return NULL;
    }
    plan->columns = PyMem_Calloc((size_t)count + 1, sizeof(Column));
    PyObject *names = PySet_New(NULL);
    if (plan->columns == NULL || names == NULL) {
        Py_XDECREF(names);
        Py_DECREF(plan);
        return PyErr_NoMemory();
    }
    plan->count = count;
    plan->null_bytes = (count + 7) / 8;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (plan_column(&plan->columns[i], PyTuple_GET_ITEM(descriptions, i)) < 0 ||
            PySet_Add(names, plan->columns[i].name) < 0) {
            Py_DECREF(names);
            Py_DECREF(plan);
            return NULL;
        }
    }
    Py_ssize_t distinct = PySet_GET_SIZE(names);
    Py_DECREF(names);
    if (distinct != count) {
        PyErr_SetString(PyExc_ValueError, "column names must be distinct");
        Py_DECREF(plan);
        return NULL;
    }
    return (PyObject *)plan;
}

static PyMethodDef plan_methods[] = {
    {"rows", plan_rows, METH_VARARGS,
     "rows(data, start, end) -> list[dict]: the row images of a write or delete event in data[start:end]."},
    {"updates", plan_updates, METH_VARARGS,
     "updates(data, start, end) -> list[tuple[dict, dict]]: (after, old) per row of an update event."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cdc_streamer._fastpath.Plan",
    .tp_basicsize = sizeof(Plan),
    .tp_dealloc = plan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Plan(columns): a compiled row decoder for one table layout (see cdc_streamer.row_decoder).",
    .tp_methods = plan_methods,
    .tp_new = plan_new,
};

/* --- the cache key of a table layout ------------------------------------------------------------------------------ */

static const char *const spec_attributes[] = {"name", "type_code", "fsp", "set_values", "is_json", "max_length", NULL};
#define SPEC_ATTRIBUTES 6
static PyObject *spec_attribute_names[SPEC_ATTRIBUTES];

/* A column attribute as part of a hashable key: lists (enum and set members) as tuples. */
static PyObject *
hashable(PyObject *value)
{
    return PyList_Check(value) ? PyList_AsTuple(value) : Py_NewRef(value);
}

/* table_key(columns, specs): everything a compiled plan depends on, flat in one tuple: every instance attribute of
 * every column (name and value: row_decoder.py reads the columns' vars()), then the fields of every spec. Columns
 * built alike give equal keys; any difference in what the plan reads gives a different key. */
static PyObject *
table_key(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *columns, *specs;
    if (!PyArg_ParseTuple(args, "O!O!:table_key", &PyList_Type, &columns, &PyTuple_Type, &specs)) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(columns);
    if (PyTuple_GET_SIZE(specs) != count) {
        PyErr_SetString(PyExc_ValueError, "one spec per column");
        return NULL;
    }
    PyObject **attributes = PyMem_Calloc((size_t)count + 1, sizeof(PyObject *));
    if (attributes == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *key = NULL;
    Py_ssize_t size = count * (1 + SPEC_ATTRIBUTES);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *column = PyList_GET_ITEM(columns, i);
        if (Py_TYPE(column)->tp_dictoffset == 0) {
            PyErr_SetString(PyExc_TypeError, "a column without instance attributes");
            goto done;
        }
        attributes[i] = PyObject_GenericGetDict(column, NULL);
        if (attributes[i] == NULL) {
            goto done;
        }
        size += 2 * PyDict_GET_SIZE(attributes[i]);
    }
    key = PyTuple_New(size);
    Py_ssize_t slot = 0;
    for (Py_ssize_t i = 0; key != NULL && i < count; i++) {
        Py_ssize_t position = 0;
        PyObject *name, *value;
        /* the item count first: without it, the attributes of two columns could shift between them */
        PyObject *items = PyLong_FromSsize_t(PyDict_GET_SIZE(attributes[i]));
        if (items == NULL) {
            Py_CLEAR(key);
            goto done;
        }
        PyTuple_SET_ITEM(key, slot++, items);
        while (PyDict_Next(attributes[i], &position, &name, &value)) {
            PyObject *item = hashable(value);
            if (item == NULL || slot + 2 > size) {  /* the dict cannot grow here: no Python code runs */
                Py_XDECREF(item);
                Py_CLEAR(key);
                goto done;
            }
            PyTuple_SET_ITEM(key, slot++, Py_NewRef(name));
            PyTuple_SET_ITEM(key, slot++, item);
        }
        PyObject *spec = PyTuple_GET_ITEM(specs, i);
        for (int a = 0; a < SPEC_ATTRIBUTES; a++) {
            PyObject *field = PyObject_GetAttr(spec, spec_attribute_names[a]);
            if (field == NULL) {
                Py_CLEAR(key);
                goto done;
            }
            PyTuple_SET_ITEM(key, slot++, field);
        }
    }
    if (key != NULL && slot != size) {
        Py_CLEAR(key);
        PyErr_SetString(PyExc_RuntimeError, "a column's attributes changed while its key was built");
    }
done:
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_XDECREF(attributes[i]);
    }
    PyMem_Free(attributes);
    return key;
}

/* --- module functions --------------------------------------------------------------------------------------------- */

static PyObject *
setup_decoder(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *decimal, *float32, *geometry, *json_text, *decode, *same, *table;
    if (!PyArg_ParseTuple(args, "O!OOOOOO!:setup_decoder", &PyType_Type, &decimal, &float32, &geometry, &json_text,
                          &decode, &same, &PyTuple_Type, &table)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(table) != 256) {
        PyErr_SetString(PyExc_ValueError, "the cp1252 table has 256 entries");
        return NULL;
    }
    for (int i = 0; i < 256; i++) {
        long c = PyLong_AsLong(PyTuple_GET_ITEM(table, i));
        if (c == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (c < -1 || c > 0x10FFFF) {
            PyErr_SetString(PyExc_ValueError, "the cp1252 table holds code points or -1");
            return NULL;
        }
        cp1252_table[i] = (int32_t)c;
    }
    set_ref(&DecimalType, decimal);
    set_ref(&float32_python, float32);
    set_ref(&geometry_python, geometry);
    set_ref(&parse_json_text, json_text);
    set_ref(&decode_text, decode);
    set_ref(&same_value_python, same);
    decoder_ready = 1;
    Py_RETURN_NONE;
}

static PyObject *
fast_float32(PyObject *Py_UNUSED(module), PyObject *value)
{
    double number = PyFloat_AsDouble(value);
    if (number == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (float32_python == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastpath.setup_decoder() was not called");
        return NULL;
    }
    return float32_of((double)(float)number);
}

static PyMethodDef module_methods[] = {
    {"encode_value", fast_encode_value, METH_O, "encode_value(value) -> str: the value as JSON text."},
    {"setup_encoder", setup_encoder, METH_VARARGS, "setup_encoder(RawJson, Decimal, encode_subclass)"},
    {"encode_event", fast_encode_event, METH_O, "encode_event(event) -> str: one event as a line of JSON."},
    {"encode_lines", fast_encode_lines, METH_O,
     "encode_lines(events) -> str: the events as JSON lines, each ended by a newline."},
    {"setup_events", setup_events, METH_VARARGS, "setup_events(ChangeEvent, encode_event_python)"},
    {"setup_decoder", setup_decoder, METH_VARARGS,
     "setup_decoder(Decimal, float32, geometry, parse_json_text, decode_text, same_value, cp1252_table)"},
    {"table_key", table_key, METH_VARARGS,
     "table_key(columns: list, specs: tuple) -> tuple: the cache key of a table layout."},
    {"float32", fast_float32, METH_O,
     "float32(value) -> float: values.float32 of the value rounded to a 32-bit float."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cdc_streamer._fastpath",
    .m_doc = "The streamer's hot path in C: JSON encoding and binlog row decoding (see the source's header).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    for (int i = 0; i < SPEC_ATTRIBUTES; i++) {
        spec_attribute_names[i] = PyUnicode_InternFromString(spec_attributes[i]);
        if (spec_attribute_names[i] == NULL) {
            return NULL;
        }
    }
    for (int i = 0; i < EVENT_ATTRIBUTES; i++) {
        event_attribute_names[i] = PyUnicode_InternFromString(event_attributes[i]);
        if (event_attribute_names[i] == NULL) {
            return NULL;
        }
    }
    str_f = PyUnicode_InternFromString("f");
    if (str_f == NULL || PyType_Ready(&PlanType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&PlanType);
    if (PyModule_AddObject(module, "Plan", (PyObject *)&PlanType) < 0) {
        Py_DECREF(&PlanType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
