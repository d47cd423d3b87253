package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// RecordWriter prints a stream's record batches: as JSON lines (one object
// per row, keys in column order) or as a table (a header of column names,
// then one tab-aligned line per row, NULL for nulls).
type RecordWriter struct {
	w      io.Writer
	json   bool
	header bool
	rows   int64
}

// NewRecordWriter returns a RecordWriter to w; asJSON picks JSON lines.
func NewRecordWriter(w io.Writer, asJSON bool) *RecordWriter {
	return &RecordWriter{w: w, json: asJSON}
}

// Rows returns the number of rows written.
func (rw *RecordWriter) Rows() int64 { return rw.rows }

// Write prints rec's rows.
func (rw *RecordWriter) Write(rec arrow.RecordBatch) error {
	if rw.json {
		return rw.writeJSON(rec)
	}
	return rw.writeTable(rec)
}

func (rw *RecordWriter) writeJSON(rec arrow.RecordBatch) error {
	fields := rec.Schema().Fields()
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		k, err := json.Marshal(f.Name)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	var line bytes.Buffer
	for r := 0; r < int(rec.NumRows()); r++ {
		line.Reset()
		line.WriteByte('{')
		for c := range fields {
			if c > 0 {
				line.WriteByte(',')
			}
			line.Write(keys[c])
			line.WriteByte(':')
			v, err := json.Marshal(rec.Column(c).GetOneForMarshal(r))
			if err != nil {
				return fmt.Errorf("encode column %q: %w", fields[c].Name, err)
			}
			line.Write(v)
		}
		line.WriteString("}\n")
		if _, err := rw.w.Write(line.Bytes()); err != nil {
			return err
		}
		rw.rows++
	}
	return nil
}

func (rw *RecordWriter) writeTable(rec arrow.RecordBatch) error {
	tw := tabwriter.NewWriter(rw.w, 0, 8, 2, ' ', 0)
	fields := rec.Schema().Fields()
	cells := make([]string, len(fields))
	if !rw.header {
		for i, f := range fields {
			cells[i] = f.Name
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		rw.header = true
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		for c := range fields {
			cells[c] = cell(rec.Column(c), r)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		rw.rows++
	}
	return tw.Flush()
}

// cell renders one value on one line.
func cell(col arrow.Array, r int) string {
	if col.IsNull(r) {
		return "NULL"
	}
	s := col.ValueStr(r)
	if a, ok := col.(*array.String); ok {
		s = a.Value(r)
	}
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(s)
}
