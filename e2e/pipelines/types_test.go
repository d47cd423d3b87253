package pipelines

import (
	"testing"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// typesDDL creates the enum and the every-type table; the enum also exists
// in the destination so dest-postgres recreates every column type exactly.
const typesDDL = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'über "quoted"');
CREATE TABLE all_types (
  id int PRIMARY KEY,
  c_smallint smallint, c_int integer, c_bigint bigint,
  c_real real, c_double double precision,
  c_num numeric(12,2), c_num38 numeric(38,10), c_num60 numeric(60,20), c_num_any numeric,
  c_text text, c_varchar varchar(20), c_char char(5),
  c_bool boolean,
  c_date date, c_time time, c_ts timestamp, c_tstz timestamptz,
  c_interval interval,
  c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea,
  c_inet inet, c_cidr cidr, c_macaddr macaddr,
  c_enum mood,
  a_int int[], a_bigint bigint[], a_text text[], a_double double precision[], a_bool boolean[],
  a_tstz timestamptz[], a_numeric numeric(10,3)[], a_uuid uuid[]
);`

// typesRows covers bounds, special values, unicode, quoting and NULL in
// every column (row 4), NULL array elements and empty arrays.
const typesRows = `
INSERT INTO all_types VALUES
(1, -32768, -2147483648, -9223372036854775808, '-Infinity', '-Infinity',
 -9999999999.99, -9999999999999999999999999999.9999999999, -9999999999999999999999999999999999999999.99999999999999999999,
 '-123456789012345678901234567890.123456789012345678901234567890',
 '', '', '', false,
 '-infinity', '00:00:00', '-infinity', '-infinity',
 '-1 year -2 months -3 days -04:05:06.789',
 '00000000-0000-0000-0000-000000000000', '{}', '[]', '',
 '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', 'sad',
 '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
(2, 32767, 2147483647, 9223372036854775807, 'Infinity', 'Infinity',
 9999999999.99, 9999999999999999999999999999.9999999999, 9999999999999999999999999999999999999999.99999999999999999999,
 'NaN',
 'héllo wörld ✓ 日本語 🎉 tab	end', 'it''s "quoted" \ ,', 'ab', true,
 'infinity', '24:00:00', 'infinity', 'infinity',
 '178000000 years 11 months 30 days 23:59:59.999999',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"a": [1, 2, {"b": null}],   "s": "x\"y"}', '{"k": "✓", "n": 1.5, "nested": {"z": [true, false]}}', '\x00ff10275c',
 '2001:db8::1/64', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'über "quoted"',
 '{1,NULL,3}', '{9223372036854775807,NULL,-9223372036854775808}', '{"a",NULL,"","with space","quo\"te","NULL","✓"}',
 '{NaN,Infinity,-Infinity,NULL,-0,1.5e300}', '{true,NULL,false}',
 '{"2024-02-29 12:34:56.789012+00",NULL,infinity}', '{1.5,NULL,-99999.999}', '{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",NULL}'),
(3, 0, 0, 0, 'NaN', 'NaN',
 0.01, -0.0000000001, 0.00000000000000000001,
 'Infinity',
 'line1
line2', 'x', 'abcde', NULL,
 '4713-01-01 BC', '23:59:59.999999', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC',
 '1 day 00:00:00.000001',
 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'null', '"just a string"', '\x',
 '192.168.1.7', '10.0.0.0/8', '08:00:2b:01:02:03', 'happy',
 '{NULL}', '{0}', '{NULL,NULL}', '{0}', '{}', '{}', '{0}', '{}'),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(5, 1, -1, 1, '-0', '-0',
 123.45, 1.5, -1.5, '-Infinity',
 'plain', 'varchar', 'c', true,
 '5874897-12-31', '12:00:00', '294247-01-09 23:59:59.999999', '294247-01-09 23:59:59.999999+00',
 '-178000000 years',
 '6ba7b810-9dad-11d1-80b4-00c04fd430c8', '[1,"two",3.0]', '{"a": 1}', '\xdeadbeef',
 '::1', '::/0', '01:23:45:67:89:ab', 'ok',
 '{-2147483648,2147483647}', '{1}', '{"日本"}', '{1e-300}', '{false}',
 '{"1970-01-01 00:00:00+00"}', '{0.001}', '{"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}');
INSERT INTO all_types (id, c_int, c_text, c_tstz, a_text)
  SELECT g, g, 'filler ' || g, timestamptz '2000-01-01 00:00:00+00' + g * interval '1 hour 1 microsecond', ARRAY['x' || g, NULL]
  FROM generate_series(6, 2000) g;`

// oddDDL is a table whose own and column names need quoting: spaces,
// quotes, upper case, reserved words, non-ASCII.
const oddDDL = `
CREATE TABLE "Odd ""Table"" ñ" ("ID" int PRIMARY KEY, "select" text, "with space" int, "quo""te" text, "ünïcödé" date, "Order" boolean);
INSERT INTO "Odd ""Table"" ñ" SELECT g, 'sel ' || g, g * 2, 'q"' || g, date '2020-01-01' + g, g % 2 = 0 FROM generate_series(1, 500) g;
INSERT INTO "Odd ""Table"" ñ" VALUES (0, NULL, NULL, NULL, NULL, NULL);`

// oddTable is the odd table's unquoted name.
const oddTable = `Odd "Table" ñ`

// TestAllTypes copies a table of every supported type with edge values,
// then compares it column by column (text form) and its column types.
func TestAllTypes(t *testing.T) {
	p := newPair(t, "types")
	p.src.Exec(t, typesDDL)
	p.src.Exec(t, typesRows)
	p.dst.Exec(t, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'über "quoted"');`)

	pl := p.pipeline("e2e_types", "public", "append", e2etest.Stream{Name: "all_types"})
	rr, _ := runOK(t, e2etest.NewEmbeddedEnv(t), pl.Write(t))
	wantEqual(t, "records_written", rr.RecordsWritten, 2000)

	for _, table := range []string{"all_types"} {
		cols := p.src.Columns(t, "public", table)
		wantEqual(t, "destination columns of "+table, join(p.dst.Columns(t, "public", table)), join(cols))
		wantEqual(t, "destination column types of "+table, join(p.dst.ColumnTypes(t, "public", table)), join(p.src.ColumnTypes(t, "public", table)))
		src := e2etest.ColumnChecksums(t, p.src, e2etest.Ident("public", table), "r."+e2etest.Ident(cols[0]), cols...)
		dst := e2etest.ColumnChecksums(t, p.dst, e2etest.Ident("public", table), "r."+e2etest.Ident(cols[0]), cols...)
		for _, c := range cols {
			if src[c] != dst[c] {
				t.Errorf("%s.%s differs: source %s, destination %s", table, c, src[c], dst[c])
			}
		}
		// Whole rows too, with per-column samples on mismatch.
		e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident("public", table), e2etest.Ident("public", table), "r."+e2etest.Ident(cols[0]))
	}
	// Values whose text form could hide a difference.
	e2etest.RequireSameQuery(t, p.src, p.dst, `SELECT concat_ws('|', id, c_real = 'NaN', c_double = 'NaN', c_real::text, c_double::text, c_bytea = '', c_char, octet_length(c_char), c_date = 'infinity', c_ts = '-infinity', extract(epoch FROM c_interval))
		FROM all_types WHERE id <= 5 ORDER BY id`)
	wantEqual(t, "NULL columns of row 4", p.dst.Int64(t,
		"SELECT count(*) FROM jsonb_each((SELECT to_jsonb(t) - 'id' FROM all_types t WHERE id = 4)) WHERE value = 'null'::jsonb"), 34)
}

// TestOddIdentifiers copies tables whose schema, table and column names
// need quoting (spaces, quotes, upper case, reserved words, non-ASCII) with
// replace, then upserts an update keyed on an upper-case column into
// another odd schema.
func TestOddIdentifiers(t *testing.T) {
	p := newPair(t, "odd")
	p.src.Exec(t, oddDDL)
	const srcSchema, dstSchema, upsertSchema = `Src "Schema" é`, `Dést "schema" x`, "Up Sert"
	p.src.Exec(t, `CREATE SCHEMA "Src ""Schema"" é";
CREATE TABLE "Src ""Schema"" é"."Tbl" AS SELECT g AS id, 'v' || g AS "Value" FROM generate_series(1, 100) g;`)
	env := e2etest.NewEmbeddedEnv(t)

	pl := p.pipeline("e2e_odd", dstSchema, "replace", e2etest.Stream{Name: oddTable}, e2etest.Stream{Name: "Tbl", Namespace: srcSchema})
	runOK(t, env, pl.Write(t))
	wantEqual(t, "columns of "+oddTable, join(p.dst.Columns(t, dstSchema, oddTable)), join(p.src.Columns(t, "public", oddTable)))
	e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident("public", oddTable), e2etest.Ident(dstSchema, oddTable), `r."ID"`)
	e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident(srcSchema, "Tbl"), e2etest.Ident(dstSchema, "Tbl"), "r.id")

	up := p.pipeline("e2e_odd_upsert", upsertSchema, "upsert", e2etest.Stream{Name: oddTable})
	up.PrimaryKey = []string{"ID"}
	runOK(t, env, up.Write(t))
	p.src.Exec(t, `UPDATE "Odd ""Table"" ñ" SET "select" = 'changed', "Order" = NULL WHERE "ID" % 3 = 0`)
	runOK(t, env, up.Write(t))
	wantEqual(t, "upserted count", p.dst.Count(t, e2etest.Ident(upsertSchema, oddTable)), 501)
	wantEqual(t, "updated rows", p.dst.Int64(t, `SELECT count(*) FROM "Up Sert"."Odd ""Table"" ñ" WHERE "select" = 'changed'`), 167)
	e2etest.RequireSameTable(t, p.src, p.dst, e2etest.Ident("public", oddTable), e2etest.Ident(upsertSchema, oddTable), `r."ID"`)
}
