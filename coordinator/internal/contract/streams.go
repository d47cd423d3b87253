package contract

import (
	"fmt"
	"slices"
	"strings"

	rapidbytev1 "github.com/rapidbyte/rapidbyte/proto/gen/rapidbyte/v1"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// PartitionProblems reports the streams of p that ask for partitions
// (partition_key, or partitions > 1) when the source manifest m does not
// declare the partitions capability: such a source would read every row
// in every partition.
func PartitionProblems(p *pipeline.Pipeline, m abi.Manifest) []pipeline.Problem {
	if m.Capabilities.Partitions {
		return nil
	}
	var out []pipeline.Problem
	for _, s := range p.Source.Streams {
		switch {
		case s.PartitionKey != "":
			out = append(out, s.Problem("partition_key",
				"source %s does not support partitioned reads (its manifest does not declare capabilities.partitions); remove partition_key", m.ID))
		case s.Partitions > 1:
			out = append(out, s.Problem("partitions",
				"source %s does not support partitioned reads (its manifest does not declare capabilities.partitions); remove partitions", m.ID))
		}
	}
	return out
}

// StreamProblems checks the streams of p (patterns expanded) against the
// source's catalog: each must be a stream of the catalog (an unknown one
// gets the closest name as a suggestion), read with a sync mode the
// stream supports, and project only columns it has. A stream in a
// namespace the catalog does not list at all is not checked: the source's
// Discover did not cover it (source-postgres lists only its configured
// schema, but reads a stream of any schema).
func StreamProblems(p *pipeline.Pipeline, cat *rapidbytev1.Catalog) []pipeline.Problem {
	var out []pipeline.Problem
	for _, s := range p.Source.Streams {
		cs := find(cat, s)
		if cs == nil && s.Namespace != "" && !hasNamespace(cat, s.Namespace) {
			// Discover did not cover this namespace (a source may list only
			// its configured schema): the read itself will tell.
			continue
		}
		if cs == nil {
			out = append(out, s.Problem("name", "the source has no stream %s%s", quoted(s), pipeline.DidYouMean(name(s), names(cat, s))))
			continue
		}
		if modes := syncModes(cs); len(modes) > 0 && !slices.Contains(modes, string(s.SyncMode)) {
			out = append(out, s.Problem("sync_mode", "stream %s supports sync_mode %s, not %s", quoted(s), strings.Join(modes, ", "), s.SyncMode))
		}
		if s.SyncMode == pipeline.SyncCDC {
			continue // Columns is not a projection for cdc (see pipeline.ChangeStream).
		}
		var have []string
		for _, c := range cs.GetColumns() {
			have = append(have, c.GetName())
		}
		for _, c := range s.Columns {
			if !slices.Contains(have, c) {
				out = append(out, s.Problem("columns", "stream %s has no column %q%s", quoted(s), c, pipeline.DidYouMean(c, have)))
			}
		}
	}
	return out
}

// find returns the catalog stream s names: by name, and by namespace when
// s has one.
func find(cat *rapidbytev1.Catalog, s pipeline.StreamConfig) *rapidbytev1.Stream {
	for _, cs := range cat.GetStreams() {
		if cs.GetName() == s.Name && (s.Namespace == "" || s.Namespace == cs.GetNamespace()) {
			return cs
		}
	}
	return nil
}

// hasNamespace reports whether some catalog stream is in namespace ns.
func hasNamespace(cat *rapidbytev1.Catalog, ns string) bool {
	for _, cs := range cat.GetStreams() {
		if cs.GetNamespace() == ns {
			return true
		}
	}
	return false
}

// name is how s is written for a suggestion: "ns.name" when it has a
// namespace, else its name.
func name(s pipeline.StreamConfig) string {
	if s.Namespace != "" {
		return s.Namespace + "." + s.Name
	}
	return s.Name
}

func quoted(s pipeline.StreamConfig) string { return fmt.Sprintf("%q", name(s)) }

// names lists the catalog's streams as s would name them.
func names(cat *rapidbytev1.Catalog, s pipeline.StreamConfig) []string {
	var out []string
	for _, cs := range cat.GetStreams() {
		if s.Namespace != "" && cs.GetNamespace() != "" {
			out = append(out, cs.GetNamespace()+"."+cs.GetName())
		} else {
			out = append(out, cs.GetName())
		}
	}
	return out
}

// syncModes lists the stream's supported sync modes in the pipeline's
// spelling (full_refresh, incremental, cdc).
func syncModes(cs *rapidbytev1.Stream) []string {
	var out []string
	for _, m := range cs.GetSupportedSyncModes() {
		out = append(out, strings.ToLower(strings.TrimPrefix(m.String(), "SYNC_MODE_")))
	}
	return out
}
