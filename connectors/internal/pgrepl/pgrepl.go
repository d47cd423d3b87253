// Package pgrepl decodes what a PostgreSQL logical replication stream
// carries: WAL positions (LSNs), the streaming protocol's XLogData and
// keepalive messages, and the transaction and relation messages of the
// pgoutput plugin (protocol version 1). The row changes themselves (Insert,
// Update, Delete) are read in place by the cdc package.
//
// It is the project's own rather than pglogrepl's, which imports pgconn
// and through it crypto/tls: a package's initialisation links it into a
// guest even when nothing calls it (docs/rationale.md).
package pgrepl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LSN is a position in the write-ahead log.
type LSN uint64

// String formats the LSN as PostgreSQL does: "16/B374D848".
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l)) }

// ParseLSN parses PostgreSQL's "X/X" form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

// Message type bytes of the streaming replication protocol, inside
// CopyData.
const (
	XLogDataByteID            = 'w'
	KeepaliveByteID           = 'k'
	StandbyStatusUpdateByteID = 'r'
)

// postgresEpoch is PostgreSQL's time zero, 2000-01-01 UTC.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Time converts microseconds since PostgreSQL's epoch.
func Time(micros int64) time.Time { return postgresEpoch.Add(time.Duration(micros) * time.Microsecond) }

// Micros is t in microseconds since PostgreSQL's epoch.
func Micros(t time.Time) int64 { return t.Sub(postgresEpoch).Microseconds() }

var errShort = errors.New("message too short")

// XLogData is a piece of WAL the server sends.
type XLogData struct {
	WALStart, ServerWALEnd LSN
	ServerTime             time.Time
	WALData                []byte // aliases the message
}

// ParseXLogData decodes an XLogData message's body (after its type byte).
func ParseXLogData(b []byte) (XLogData, error) {
	if len(b) < 24 {
		return XLogData{}, fmt.Errorf("XLogData: %w (%d bytes)", errShort, len(b))
	}
	return XLogData{
		WALStart:     LSN(binary.BigEndian.Uint64(b)),
		ServerWALEnd: LSN(binary.BigEndian.Uint64(b[8:])),
		ServerTime:   Time(int64(binary.BigEndian.Uint64(b[16:]))),
		WALData:      b[24:],
	}, nil
}

// Keepalive is the server's primary keepalive message.
type Keepalive struct {
	ServerWALEnd   LSN
	ServerTime     time.Time
	ReplyRequested bool
}

// ParseKeepalive decodes a keepalive message's body (after its type byte).
func ParseKeepalive(b []byte) (Keepalive, error) {
	if len(b) < 17 {
		return Keepalive{}, fmt.Errorf("keepalive: %w (%d bytes)", errShort, len(b))
	}
	return Keepalive{
		ServerWALEnd:   LSN(binary.BigEndian.Uint64(b)),
		ServerTime:     Time(int64(binary.BigEndian.Uint64(b[8:]))),
		ReplyRequested: b[16] != 0,
	}, nil
}

// AppendStandbyStatus appends a Standby Status Update: written, flushed
// and applied all at pos, the client's clock at now, and whether the
// server should answer with a keepalive at once.
func AppendStandbyStatus(b []byte, pos LSN, now time.Time, replyRequested bool) []byte {
	b = append(b, StandbyStatusUpdateByteID)
	for range 3 {
		b = binary.BigEndian.AppendUint64(b, uint64(pos))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(Micros(now)))
	if replyRequested {
		return append(b, 1)
	}
	return append(b, 0)
}
