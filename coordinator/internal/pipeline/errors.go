package pipeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// DefaultFilename is the file name ValidationError uses when File is empty.
const DefaultFilename = "pipeline.yaml"

// Problem is one thing wrong with a pipeline, at a position in its YAML.
type Problem struct {
	// Line is the 1-based line; 0 when the problem has no position.
	Line int
	// Column is the 1-based column; 0 when unknown.
	Column int
	// Path is the dotted field path, e.g. "source.streams[1].cursor_field";
	// empty for document-level problems such as YAML syntax errors.
	Path string
	// Message says what is wrong; it never contains a secret value.
	Message string
}

// String renders the problem as "line:col: path: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
		b.WriteByte(' ')
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a pipeline, sorted by
// position. Parse and Resolve return it.
type ValidationError struct {
	// File names the pipeline in messages (default DefaultFilename).
	// Callers that read a file may set it before printing.
	File string
	// Problems are sorted by line, then column.
	Problems []Problem
}

// Error renders one problem per line, e.g.
// `pipeline.yaml:12:5: destination.write_mode: "upsrt" is not one of append, replace, upsert (did you mean "upsert"?)`.
func (e *ValidationError) Error() string {
	file := e.File
	if file == "" {
		file = DefaultFilename
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		sep := ":"
		if p.Line == 0 {
			sep = ": "
		}
		lines[i] = file + sep + p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a pipeline is checked.
type problems []Problem

func (ps *problems) add(line, col int, path, format string, args ...any) {
	*ps = append(*ps, Problem{Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// maxProblems caps the problems reported for one pipeline.
const maxProblems = 100

// err returns nil when there are no problems, else a sorted *ValidationError
// holding at most maxProblems of them.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone([]Problem(ps))
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if len(out) > maxProblems {
		last := out[maxProblems-1]
		out = append(out[:maxProblems-1], Problem{Line: last.Line, Column: last.Column,
			Message: fmt.Sprintf("%d more problems not shown", len(ps)-maxProblems+1)})
	}
	return &ValidationError{Problems: out}
}
