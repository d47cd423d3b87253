package pipeline

// ChangeStreamName is the stream name of a pipeline's change stream.
const ChangeStreamName = "_cdc"

// ChangeStream returns the pipeline's change stream: every stream with
// sync_mode cdc travels in one stream (one replication slot, one
// publication), so a source transaction that spans several tables reaches
// the destination whole. Its Columns list the tables ("namespace.name", or
// the bare name in the source's default schema). ok is false when the
// pipeline has no cdc stream.
func (p *Pipeline) ChangeStream() (StreamConfig, bool) {
	cs := StreamConfig{Name: ChangeStreamName, SyncMode: SyncCDC, Partitions: 1}
	for _, s := range p.Source.Streams {
		if s.SyncMode != SyncCDC {
			continue
		}
		name := s.Name
		if s.Namespace != "" {
			name = s.Namespace + "." + s.Name
		}
		cs.Columns = append(cs.Columns, name)
	}
	return cs, len(cs.Columns) > 0
}
