package runner

import (
	"context"
	"fmt"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/worker/internal/guest"
)

// ReadSchema returns the fields a Read of req would emit, without reading:
// it discovers the stream (by name, with the read's network grants) and takes its columns (in the order of
// req's projection, when it has one), as the source builds its schema.
// A stream or column the catalog lacks wraps ErrInvalidRequest.
func (r *Runner) ReadSchema(ctx context.Context, req StreamRequest) ([]abi.Field, error) {
	var cat *abi.Catalog
	err := r.unary(ctx, req.Ref, abi.OpDiscover, abi.RoleSource, req.Config, func(ctx context.Context, m guest.Module, inv guest.Invocation) error {
		inv.AllowedHosts = req.AllowedHosts // the read's own network grants
		inv.Request.Names = []string{req.Stream.Name}
		var err error
		cat, err = m.Discover(ctx, inv)
		return err
	})
	if err != nil {
		return nil, err
	}
	var st *abi.Stream
	for i := range cat.Streams {
		s := &cat.Streams[i]
		if s.Name == req.Stream.Name && (req.Stream.Namespace == "" || req.Stream.Namespace == s.Namespace) {
			st = s
			break
		}
	}
	if st == nil {
		return nil, fmt.Errorf("%w: stream %q is not in the source's catalog", ErrInvalidRequest, qualified(req.Stream.Namespace, req.Stream.Name))
	}
	byName := make(map[string]abi.Column, len(st.Columns))
	for _, c := range st.Columns {
		byName[c.Name] = c
	}
	cols := st.Columns
	if len(req.Stream.Columns) > 0 {
		cols = make([]abi.Column, 0, len(req.Stream.Columns))
		for _, name := range req.Stream.Columns {
			c, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("%w: stream %q has no column %q", ErrInvalidRequest, st.Name, name)
			}
			cols = append(cols, c)
		}
	}
	fields := make([]abi.Field, len(cols))
	for i, c := range cols {
		fields[i] = abi.Field{Name: c.Name, Type: c.ArrowType, Nullable: c.Nullable, SourceType: c.SourceType}
	}
	return fields, nil
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "." + name
}
