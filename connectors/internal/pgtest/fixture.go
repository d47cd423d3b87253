package pgtest

// AllTypesSQL creates enum type "mood" and table public.all_types holding
// every supported type with NULLs and edge values (bounds, NaN, ±Infinity,
// infinity timestamps, empty strings, unicode, empty arrays, arrays with
// NULLs), plus awkward identifiers.
const AllTypesSQL = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.all_types (
  id          integer PRIMARY KEY,
  c_int2      smallint,
  c_int4      integer,
  c_int8      bigint,
  c_float4    real,
  c_float8    double precision,
  c_num       numeric(12,2),
  c_num38     numeric(38,10),
  c_num60     numeric(60,20),
  c_numu      numeric,
  c_text      text,
  c_varchar   varchar(20),
  c_char      char(5),
  c_bool      boolean,
  c_date      date,
  c_time      time,
  c_ts        timestamp,
  c_tstz      timestamptz,
  c_interval  interval,
  c_uuid      uuid,
  c_json      json,
  c_jsonb     jsonb,
  c_bytea     bytea,
  c_inet      inet,
  c_cidr      cidr,
  c_mac       macaddr,
  c_mood      mood,
  c_int_arr   integer[],
  c_text_arr  text[],
  c_num_arr   numeric(10,3)[],
  c_ts_arr    timestamptz[],
  c_point     point,
  "Mixed Case ""col""" text,
  "select"    integer,
  "ünïcödé"   text
);
INSERT INTO public.all_types VALUES
 (1, 1, 2, 3, 1.5, 2.25, 1234.56, 12345.6789012345, 1.00000000000000000001, 3.14159265358979323846264338327950288419716939937510,
  'hello', 'varchar', 'ab', true, '2024-02-29', '12:34:56.789012', '2024-01-01 10:11:12.123456', '2024-06-30 23:59:59.999999+02',
  '1 year 2 mons 3 days 04:05:06.789012', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{"k": "v", "n": 1.5}',
  '\xdeadbeef00', '192.168.1.10', '10.1.0.0/16', '08:00:2b:01:02:03', 'happy',
  '{1,2,3}', '{"a","b c","d\"e"}', '{1.5,2.125}', '{"2024-01-01 00:00:00+00","infinity"}', '(1.5,2)', 'mixed', 7, 'ünï'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, -32768, -2147483648, -9223372036854775808, '-Infinity', '-Infinity', -9999999999.99,
  -9999999999999999999999999999.9999999999, -1234567890123456789012345678901234567890.12345678901234567890, 'NaN',
  '', '', '', false, '-infinity', '00:00:00', '-infinity', '-infinity', '-178000000 years -5 days -00:00:00.000001',
  '00000000-0000-0000-0000-000000000000', '[]', '{}', '', '::1', '2001:db8::/32', '00:00:00:00:00:00', 'sad',
  '{}', '{}', '{}', '{}', '(0,0)', '', 0, ''),
 (4, 32767, 2147483647, 9223372036854775807, 'Infinity', 'Infinity', 9999999999.99,
  9999999999999999999999999999.9999999999, 1234567890123456789012345678901234567890.12345678901234567890, '-Infinity',
  '日本語 🎉 "quoted" \ back', 'ünïcödé', 'xyzzy', true, 'infinity', '24:00:00', 'infinity', 'infinity', '178000000 years 5 days 23:59:59.999999',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '"str"', '[1, "two", null, true]', '\x00ff', '::ffff:1.2.3.4', '0.0.0.0/0', 'ff:ff:ff:ff:ff:ff', 'ok',
  '{NULL,1,NULL}', '{NULL,"",x}', '{NULL,-0.001}', '{NULL}', '(-1e300,1e-300)', 'Ω', -1, 'ß'),
 (5, 0, 0, 0, 'NaN', 'NaN', 0, 0, 0, 'Infinity',
  ' ', ' ', ' ', NULL, '4713-01-01 BC', '23:59:59.999999', '4713-01-01 00:00:00 BC', '294000-01-01 00:00:00+00', '0',
  NULL, 'null', 'null', NULL, '255.255.255.255/32', '192.168.0.0/24', NULL, NULL,
  '{-2147483648,2147483647}', NULL, '{0}', '{"1999-12-31 23:59:59.999999+00"}', NULL, NULL, NULL, NULL),
 (6, 1, 1, 1, -0.0, 1e-300, -0.01, 0.0000000001, -0.00000000000000000001, '123456789012345678901234567890.123456789012345678901234567890',
  'line1
line2	tab', 'x', 'y', true, '2000-01-01', '00:00:00.000001', '1970-01-01 00:00:00', '1999-12-31 23:59:59.999999-12', '-1 mons +1 days -00:00:01',
  '123e4567-e89b-12d3-a456-426614174000', '{}', '{"nested": {"deep": [[], {}]}}', '\x5c', '10.0.0.1/8', '10.0.0.0/8', '01:23:45:67:89:ab', 'sad',
  '{1}', '{"NULL"}', '{99999.999}', '{"-infinity"}', '(1,1)', 'm', 2147483647, 'e');
`

// AllTypesColumns lists the columns of all_types (excluding id) for
// per-column comparisons.
var AllTypesColumns = []string{
	"c_int2", "c_int4", "c_int8", "c_float4", "c_float8", "c_num", "c_num38", "c_num60", "c_numu",
	"c_text", "c_varchar", "c_char", "c_bool", "c_date", "c_time", "c_ts", "c_tstz", "c_interval",
	"c_uuid", "c_json", "c_jsonb", "c_bytea", "c_inet", "c_cidr", "c_mac", "c_mood",
	"c_int_arr", "c_text_arr", "c_num_arr", "c_ts_arr", "c_point", `Mixed Case "col"`, "select", "ünïcödé",
}
