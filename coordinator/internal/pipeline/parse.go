package pipeline

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Keys accepted in each section.
var (
	topKeys         = []string{"version", "pipeline", "source", "destination", "state", "resources", "permissions"}
	sourceKeys      = []string{"use", "config", "streams", "permissions"}
	streamKeys      = []string{"name", "namespace", "sync_mode", "cursor_field", "tie_breaker_field", "columns", "partition_key", "partitions", "destination_table", "exclude"}
	destinationKeys = []string{"use", "config", "write_mode", "primary_key", "on_data_error", "max_failed_records", "schema_evolution", "permissions"}
	evolutionKeys   = []string{"new_column", "removed_column", "type_change", "nullability_change"}
	stateKeys       = []string{"backend", "connection"}
	resourceKeys    = []string{
		"max_retries", "parallelism", "max_inflight_batches", "max_batch_bytes", "max_batch_rows", "max_memory",
		"checkpoint_interval_rows", "checkpoint_interval_bytes", "checkpoint_interval_seconds", "timeout_seconds",
	}
	// removedResourceKeys were accepted once; naming one is an error that
	// says why it went.
	removedResourceKeys = []string{"compression"}
	permissionKeys      = []string{"network"}
	networkKeys         = []string{"allowed_hosts"}

	syncModes    = []string{string(SyncFullRefresh), string(SyncIncremental), string(SyncCDC)}
	writeModes   = []string{string(WriteAppend), string(WriteReplace), string(WriteUpsert)}
	dataPolicies = []string{string(OnDataErrorFail), string(OnDataErrorSkip), string(OnDataErrorDLQ)}
	newColumns   = []string{string(NewColumnAdd), string(NewColumnIgnore), string(NewColumnFail)}
	removedCols  = []string{string(RemovedColumnIgnore), string(RemovedColumnFail)}
	typeChanges  = []string{string(TypeChangeCoerce), string(TypeChangeFail), string(TypeChangeNull)}
	nullChanges  = []string{string(NullabilityAllow), string(NullabilityFail)}
	backends     = []string{string(StateSQLite), string(StatePostgres)}

	// parserProblems are the yaml.v3 parser (not scanner) messages.
	parserProblems = map[string]bool{
		"did not find expected <stream-start>": true, "did not find expected <document start>": true,
		"did not find expected node content": true, "did not find expected '-' indicator": true,
		"did not find expected key": true, "did not find expected ',' or ']'": true,
		"did not find expected ',' or '}'": true, "found undefined tag handle": true,
		"found duplicate %YAML directive": true, "found incompatible YAML document": true,
		"found duplicate %TAG directive": true,
	}

	connectorRefRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9.+_-]*)?$`)
	yamlLineRE     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// Parse parses and validates pipeline YAML. ${VAR} references anywhere in
// string values are checked against lookup (nil means no variable is set):
// an unset or malformed reference is a problem. Structural fields (names,
// modes, sizes) get the substituted values; connector configs and
// state.connection keep the references as written, to be substituted by
// Resolve at dispatch. $${ is a literal ${.
//
// On failure the error is a *ValidationError listing every problem found.
func Parse(src []byte, lookup Lookup) (*Pipeline, error) {
	return parse(src, &checker{lookup: lookup})
}

// ParseSource parses a pipeline for discovery: it needs only version,
// pipeline and source, and streams are optional. A destination or state
// section, if present, is neither validated nor checked for ${VAR}
// references, so discovering needs none of their variables (Resolve of the
// result resolves the source config only).
func ParseSource(src []byte, lookup Lookup) (*Pipeline, error) {
	return parse(src, &checker{lookup: lookup, sourceOnly: true})
}

func parse(src []byte, c *checker) (*Pipeline, error) {
	root := c.document(src)
	if root == nil {
		return nil, c.ps.err()
	}
	p := c.pipeline(root)
	if err := c.ps.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// document decodes src into its root node, recording syntax problems.
func (c *checker) document(src []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 has panicked on some malformed inputs; report, never crash.
		if r := recover(); r != nil {
			c.ps.add(1, 1, "", "invalid YAML: %v", r)
			root = nil
		}
	}()
	text, marker, protected := protectRefs(src)
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc yaml.Node
	err := dec.Decode(&doc)
	switch {
	case errors.Is(err, io.EOF):
		c.ps.add(1, 1, "", "pipeline is empty")
		return nil
	case err != nil:
		c.syntaxError(src, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		c.syntaxError(src, err)
		return nil
	default:
		c.ps.add(extra.Line, extra.Column, "", "a pipeline file holds one YAML document; found another")
		return nil
	}
	if len(doc.Content) == 0 {
		c.ps.add(1, 1, "", "pipeline is empty")
		return nil
	}
	if bad := recursiveAlias(&doc); bad != nil {
		c.add(bad, "", "alias *%s refers to a node that contains it", bad.Value)
		return nil
	}
	if protected {
		restoreRefs(&doc, marker)
	}
	root = deref(doc.Content[0])
	if isNull(root) {
		c.ps.add(1, 1, "", "pipeline is empty")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		c.add(root, "", "pipeline must be a mapping, got a %s", kindName(root))
		return nil
	}
	return root
}

// syntaxError records a YAML syntax error. yaml.v3 reports only a line; the
// column is that of the line's first non-blank character.
func (c *checker) syntaxError(src []byte, err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if parserProblems[msg] {
		// yaml.v3 reports parser (not scanner) errors with a 0-based line,
		// and omits "line 0".
		line++
	}
	line = max(line, 1)
	col := firstColumn(src, line, strings.Contains(msg, "cannot start any token"))
	c.ps.add(line, col, "", "invalid YAML: %s", msg)
}

// firstColumn returns the 1-based column of the first non-blank character
// of line (1-based) in src, or 1. With tabs set, a tab on the line wins: it
// is the usual culprit of "cannot start any token".
func firstColumn(src []byte, line int, tabs bool) int {
	lines := bytes.Split(src, []byte("\n"))
	if line < 1 || line > len(lines) {
		return 1
	}
	l := lines[line-1]
	if i := bytes.IndexByte(l, '\t'); tabs && i >= 0 {
		return i + 1
	}
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	if i == len(l) {
		return 1
	}
	return i + 1
}

func (c *checker) pipeline(root *yaml.Node) *Pipeline {
	fs := c.fields(root, "", topKeys)
	p := &Pipeline{}
	if v, n := c.required(fs, "version", "", root); n != nil && v != "" && v != Version {
		c.add(deref(n), "version", "%s is not supported; use %q", quoteShort(v), Version)
	} else {
		p.Version = v
	}
	p.Name, _ = c.required(fs, "pipeline", "", root)
	p.Resources = c.resources(fs["resources"].val)
	p.Permissions = c.permissions(fs["permissions"].val, "permissions")
	if f, ok := fs["source"]; ok {
		p.Source = c.source(f, p.Resources)
	} else {
		c.add(root, "", "missing required key %q", "source")
	}
	if c.sourceOnly {
		return p
	}
	p.State = c.state(fs["state"].val)
	if f, ok := fs["destination"]; ok {
		p.Destination = c.destination(f)
	} else {
		c.add(root, "", "missing required key %q", "destination")
	}
	return p
}

func (c *checker) connectorRef(fs map[string]field, path string, parent *yaml.Node) ConnectorRef {
	s, n := c.required(fs, "use", path, parent)
	if n == nil || s == "" {
		return ConnectorRef{}
	}
	if !connectorRefRE.MatchString(s) {
		c.add(deref(n), joinPath(path, "use"), "invalid connector reference %s: want id or id@version, e.g. source-postgres@1.0.0", quoteShort(s))
		return ConnectorRef{}
	}
	return ParseConnectorRef(s)
}

func (c *checker) source(f field, res Resources) Source {
	const path = "source"
	fs := c.fields(f.val, path, sourceKeys)
	if fs == nil {
		return Source{}
	}
	s := Source{Use: c.connectorRef(fs, path, f.key)}
	s.Config, s.configNode = c.connectorConfig(fs, path)
	s.Permissions = c.permissions(fs["permissions"].val, path+".permissions")
	sf, ok := fs["streams"]
	if !ok {
		if !c.sourceOnly {
			c.add(f.key, path, "missing required key %q: list at least one stream", "streams")
		}
		return s
	}
	seq := deref(sf.val)
	if seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) == 0 {
		if seq != nil && seq.Kind != yaml.SequenceNode && !isNull(seq) {
			c.add(seq, path+".streams", "must be a list of streams, got a %s", kindName(seq))
		} else if !c.sourceOnly {
			c.add(sf.key, path+".streams", "list at least one stream")
		}
		return s
	}
	names := map[string]int{}
	patterns := map[string]int{}
	tables := map[string]string{}
	for i, item := range seq.Content {
		sp := fmt.Sprintf("%s.streams[%d]", path, i)
		st, nameNode := c.stream(item, sp, res)
		if st.Pattern != "" {
			if line, dup := patterns[st.Pattern]; dup {
				c.add(nameNode, sp+".name", "duplicate stream pattern %q (first defined at line %d)", st.Pattern, line)
			} else {
				patterns[st.Pattern] = nameNode.Line
			}
			s.Streams = append(s.Streams, st)
			continue
		}
		if st.Name == "" {
			s.Streams = append(s.Streams, st)
			continue
		}
		// A cdc stream's table travels in the pipeline's change stream, by
		// its qualified name: a.t and b.t may both be cdc streams (the
		// destination names their tables a_t and b_t).
		key := st.Name
		if st.SyncMode == SyncCDC && st.Namespace != "" {
			key = st.Namespace + "." + st.Name
		}
		if line, dup := names[key]; dup {
			c.add(nameNode, sp+".name", "duplicate stream name %q (first defined at line %d)", key, line)
		} else {
			names[key] = nameNode.Line
			table := cmp.Or(st.DestinationTable, key)
			if other, dup := tables[table]; dup {
				c.add(nameNode, sp, "streams %q and %q both write destination table %q; set destination_table", other, st.Name, table)
			} else {
				tables[table] = st.Name
			}
		}
		s.Streams = append(s.Streams, st)
	}
	return s
}

// connectorConfig converts "config", keeping ${VAR} references unresolved.
func (c *checker) connectorConfig(fs map[string]field, path string) (map[string]any, *yaml.Node) {
	f, ok := fs["config"]
	if !ok {
		return map[string]any{}, nil
	}
	cv := &converter{c: c}
	return cv.config(f.val, joinPath(path, "config")), deref(f.val)
}

func (c *checker) stream(n *yaml.Node, path string, res Resources) (StreamConfig, *yaml.Node) {
	st := StreamConfig{SyncMode: SyncFullRefresh, Partitions: 1}
	fs := c.fields(n, path, streamKeys)
	if fs == nil {
		return st, nil
	}
	var nameNode *yaml.Node
	st.Name, nameNode = c.required(fs, "name", path, deref(n))
	nameNode = deref(nameNode)
	st.Namespace = c.str(fs, "namespace", path)
	st.Exclude = c.list(fs, "exclude", path)
	pattern := IsPattern(st.Name)
	if f, ok := fs["exclude"]; ok && !pattern && st.Name != "" {
		c.add(f.key, joinPath(path, "exclude"), "exclude needs a pattern name such as \"public.*\"; %q names one table", st.Name)
	}
	// "schema.table", as discover prints it, means that table of that schema
	// (with an explicit namespace the name is taken as it is).
	if _, set := fs["namespace"]; !set && !pattern {
		if ns, name, ok := strings.Cut(st.Name, "."); ok && ns != "" && name != "" {
			st.Namespace, st.Name = ns, name
		}
	}
	st.SyncMode = SyncMode(c.enum(fs, "sync_mode", path, syncModes, string(SyncFullRefresh)))
	st.CursorField = c.str(fs, "cursor_field", path)
	st.TieBreakerField = c.str(fs, "tie_breaker_field", path)
	st.Columns = c.list(fs, "columns", path)
	st.PartitionKey = c.str(fs, "partition_key", path)
	st.DestinationTable = c.str(fs, "destination_table", path)
	if st.PartitionKey != "" {
		st.Partitions = res.Parallelism
	}
	st.Partitions = c.integer(fs, "partitions", path, 1, st.Partitions)

	// Cross-field rules.
	modeNode := deref(fs["sync_mode"].val)
	if modeNode == nil {
		modeNode = deref(n)
	}
	if st.SyncMode == SyncIncremental && st.CursorField == "" {
		c.add(modeNode, joinPath(path, "sync_mode"), "incremental streams need a cursor_field")
	}
	if f, ok := fs["tie_breaker_field"]; ok && st.TieBreakerField != "" && st.CursorField == "" {
		c.add(deref(f.val), joinPath(path, "tie_breaker_field"), "tie_breaker_field needs a cursor_field")
	}
	if f, ok := fs["partition_key"]; ok && st.PartitionKey != "" && st.SyncMode != SyncFullRefresh {
		c.add(deref(f.val), joinPath(path, "partition_key"), "partition_key is only allowed with sync_mode full_refresh, not %s", st.SyncMode)
	}
	if f, ok := fs["partitions"]; ok && st.Partitions > 1 && st.SyncMode != SyncFullRefresh {
		c.add(deref(f.val), joinPath(path, "partitions"), "more than one partition is only allowed with sync_mode full_refresh, not %s", st.SyncMode)
	}
	if st.SyncMode == SyncCDC {
		for _, k := range []string{"columns", "cursor_field", "tie_breaker_field", "destination_table"} {
			if f, ok := fs[k]; ok {
				c.add(deref(f.val), joinPath(path, k), "%s is not supported with sync_mode cdc (a change stream replicates every column, positioned by LSN, into a table of the same name, schema_name when two of its tables share a name)", k)
			}
		}
	}
	if st.Name == ChangeStreamName && nameNode != nil {
		c.add(nameNode, joinPath(path, "name"), "%q is reserved for the pipeline's change stream", ChangeStreamName)
	}
	if len(st.Columns) > 0 {
		for _, k := range []string{"cursor_field", "tie_breaker_field", "partition_key"} {
			f, ok := fs[k]
			v := streamField(st, k)
			if ok && v != "" && !slices.Contains(st.Columns, v) {
				c.add(deref(f.val), joinPath(path, k), "%q is not among the stream's columns", v)
			}
		}
	}
	if pattern {
		c.pattern(&st, fs, nameNode, path)
	}
	st.pos = streamPos{path: path, entry: deref(n), keys: map[string]*yaml.Node{}}
	for k, f := range fs {
		st.pos.keys[k] = deref(f.val)
	}
	return st, nameNode
}

// streamField returns the value of a column-naming stream field.
func streamField(st StreamConfig, key string) string {
	switch key {
	case "cursor_field":
		return st.CursorField
	case "tie_breaker_field":
		return st.TieBreakerField
	default:
		return st.PartitionKey
	}
}

func (c *checker) destination(f field) Destination {
	const path = "destination"
	fs := c.fields(f.val, path, destinationKeys)
	if fs == nil {
		return Destination{}
	}
	d := Destination{Use: c.connectorRef(fs, path, f.key)}
	d.Config, d.configNode = c.connectorConfig(fs, path)
	d.WriteMode = WriteMode(c.enum(fs, "write_mode", path, writeModes, string(WriteAppend)))
	d.PrimaryKey = c.list(fs, "primary_key", path)
	d.OnDataError = DataErrorPolicy(c.enum(fs, "on_data_error", path, dataPolicies, string(OnDataErrorFail)))
	if _, _, node, ok := c.optional(fs, "max_failed_records", path); ok {
		d.MaxFailedRecords = uint64(c.integer(fs, "max_failed_records", path, 1, 0))
		if d.OnDataError == OnDataErrorFail {
			c.add(node, path+".max_failed_records", "needs on_data_error skip or dlq (with fail the first rejected record stops the run)")
		}
	}
	d.SchemaEvolution = SchemaEvolution{NewColumn: NewColumnAdd, RemovedColumn: RemovedColumnIgnore,
		TypeChange: TypeChangeCoerce, NullabilityChange: NullabilityAllow}
	if ef, ok := fs["schema_evolution"]; ok {
		ep := path + ".schema_evolution"
		es := c.fields(ef.val, ep, evolutionKeys)
		d.SchemaEvolution.NewColumn = NewColumnPolicy(c.enum(es, "new_column", ep, newColumns, string(NewColumnAdd)))
		d.SchemaEvolution.RemovedColumn = RemovedColumnPolicy(c.enum(es, "removed_column", ep, removedCols, string(RemovedColumnIgnore)))
		d.SchemaEvolution.TypeChange = TypeChangePolicy(c.enum(es, "type_change", ep, typeChanges, string(TypeChangeCoerce)))
		d.SchemaEvolution.NullabilityChange = NullabilityChangePolicy(c.enum(es, "nullability_change", ep, nullChanges, string(NullabilityAllow)))
	}
	d.Permissions = c.permissions(fs["permissions"].val, path+".permissions")
	if d.WriteMode == WriteUpsert && len(d.PrimaryKey) == 0 {
		at := deref(fs["write_mode"].val)
		c.add(at, path+".write_mode", "upsert needs a primary_key")
	}
	return d
}

func (c *checker) state(n *yaml.Node) State {
	const path = "state"
	st := State{Backend: StateSQLite}
	if n == nil {
		return st
	}
	fs := c.fields(n, path, stateKeys)
	st.Backend = StateBackend(c.enum(fs, "backend", path, backends, string(StateSQLite)))
	if f, ok := fs["connection"]; ok {
		if cn := deref(f.val); cn != nil && cn.Kind == yaml.ScalarNode && !isNull(cn) {
			c.checkRefs(cn, path+".connection", cn.Value)
			st.Connection, st.connNode = cn.Value, cn
		} else if !isNull(cn) {
			c.add(cn, path+".connection", "must be a string, got a %s", kindName(cn))
		}
	}
	if st.Backend == StatePostgres && st.Connection == "" {
		at := deref(fs["backend"].val)
		c.add(at, path+".backend", "postgres needs a connection URL")
	}
	return st
}

func (c *checker) resources(n *yaml.Node) Resources {
	const path = "resources"
	fs := c.fields(n, path, append(slices.Clip(resourceKeys), removedResourceKeys...))
	if fs == nil {
		fs = map[string]field{}
	}
	if f, ok := fs["compression"]; ok {
		c.add(f.key, path+".compression", "removed: it never had an effect, Arrow batches cross the coordinator-worker hops "+
			"uncompressed (docs/rationale.md, \"No compression between coordinator and workers\"); delete the key")
	}
	r := Resources{
		MaxRetries:                c.integer(fs, "max_retries", path, 0, DefaultMaxRetries),
		Parallelism:               c.integer(fs, "parallelism", path, 1, DefaultParallelism),
		MaxInflightBatches:        c.integer(fs, "max_inflight_batches", path, 1, DefaultMaxInflightBatches),
		MaxBatchBytes:             c.size(fs, "max_batch_bytes", path, 1, DefaultMaxBatchBytes),
		MaxBatchRows:              c.integer(fs, "max_batch_rows", path, 1, DefaultMaxBatchRows),
		MaxMemory:                 c.size(fs, "max_memory", path, 0, 0),
		CheckpointIntervalRows:    uint64(c.integer(fs, "checkpoint_interval_rows", path, 0, 0)),
		CheckpointIntervalBytes:   c.size(fs, "checkpoint_interval_bytes", path, 0, DefaultCheckpointIntervalBytes),
		CheckpointIntervalSeconds: c.integer(fs, "checkpoint_interval_seconds", path, 0, 0),
		TimeoutSeconds:            c.integer(fs, "timeout_seconds", path, 0, 0),
	}
	c.batchFitsMemory(fs, &r)
	return r
}

// batchFitsMemory keeps a batch within a guest's memory cap: a guest holds
// the batch it sends while it builds the next, so with max_memory set the
// default max_batch_bytes becomes a quarter of it (a 64 MiB default batch
// in an 80 MiB guest ran it out of memory), and a max_batch_bytes above
// half of it is a problem naming both.
func (c *checker) batchFitsMemory(fs map[string]field, r *Resources) {
	if r.MaxMemory == 0 {
		return
	}
	f, set := fs["max_batch_bytes"]
	switch {
	case !set:
		r.MaxBatchBytes = min(r.MaxBatchBytes, max(r.MaxMemory/4, 1))
	case r.MaxBatchBytes > r.MaxMemory/2:
		c.add(deref(f.val), "resources.max_batch_bytes", "must be at most half of max_memory (%d bytes here): a guest holds one batch while it builds the next",
			r.MaxMemory/2)
	}
}

func (c *checker) permissions(n *yaml.Node, path string) Permissions {
	if n == nil {
		return Permissions{}
	}
	fs := c.fields(n, path, permissionKeys)
	f, ok := fs["network"]
	if !ok {
		return Permissions{}
	}
	nfs := c.fields(f.val, path+".network", networkKeys)
	return Permissions{Network: NetworkPermissions{AllowedHosts: c.list(nfs, "allowed_hosts", path+".network")}}
}
