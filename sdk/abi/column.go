package abi

// Field (a batch schema's column, in emit_schema and Write requests) and
// Column (a discovered stream's column, in the Catalog) carry the same
// data: the column's name, its Arrow type in the grammar of ParseType,
// nullability and source type. Only their JSON names differ ("type" and
// "arrow_type"), which the ABI and the proto fix; these conversions keep
// Go code from spelling the copy out.

// Column returns f as a catalog column.
func (f Field) Column() Column {
	return Column{Name: f.Name, ArrowType: f.Type, Nullable: f.Nullable, SourceType: f.SourceType}
}

// Field returns c as a batch schema field.
func (c Column) Field() Field {
	return Field{Name: c.Name, Type: c.ArrowType, Nullable: c.Nullable, SourceType: c.SourceType}
}
