package pgsql

import "testing"

func TestIdent(t *testing.T) {
	tests := map[string]string{
		"users":         `"users"`,
		"Mixed Case":    `"Mixed Case"`,
		`we"ird`:        `"we""ird"`,
		"select":        `"select"`,
		"ünïcödé":       `"ünïcödé"`,
		"nul\x00inside": `"nulinside"`,
	}
	for in, want := range tests {
		if got := Ident(in); got != want {
			t.Errorf("Ident(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Qualified("My Schema", `t"1`); got != `"My Schema"."t""1"` {
		t.Errorf("Qualified = %s", got)
	}
	if got := Literal("it's"); got != `'it''s'` {
		t.Errorf("Literal = %s", got)
	}
}
