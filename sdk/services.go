package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

// Log sends a log line to the host, which writes it to the worker's log
// with the connector, run and stream attached. kv are alternating keys and
// values (formatted with %v). Without a host in ctx it does nothing. Do not
// log per row: logging crosses the sandbox boundary.
func Log(ctx context.Context, level abi.LogLevel, msg string, kv ...any) {
	h := rt.FromContext(ctx)
	if h == nil {
		return
	}
	var sb strings.Builder
	sb.WriteString(msg)
	for i := 0; i < len(kv); i += 2 {
		sb.WriteByte(0)
		fmt.Fprint(&sb, kv[i])
		sb.WriteByte(0)
		if i+1 < len(kv) {
			fmt.Fprint(&sb, kv[i+1])
		}
	}
	h.Log(int32(level), []byte(sb.String()))
}

// StateGet returns the value stored under key for this connector and
// stream, and false when there is none.
func StateGet(ctx context.Context, key string) ([]byte, bool, error) {
	h := rt.FromContext(ctx)
	if h == nil {
		return nil, false, InternalError(errHost)
	}
	buf := make([]byte, 256)
	for {
		rc := h.StateGet(key, buf)
		if rc == -abi.ENOENT {
			return nil, false, nil
		}
		if rc < 0 {
			return nil, false, hostError("state_get", rc)
		}
		if int(rc) <= len(buf) {
			return buf[:rc], true, nil
		}
		buf = make([]byte, rc)
	}
}

// StatePut stores val under key for this connector and stream.
func StatePut(ctx context.Context, key string, val []byte) error {
	h := rt.FromContext(ctx)
	if h == nil {
		return InternalError(errHost)
	}
	if rc := h.StatePut(key, val); rc < 0 {
		return hostError("state_put", rc)
	}
	return nil
}

// Cancelled asks the host whether the operation was cancelled. It is
// cheaper than waiting for ctx (polled every 50 ms) in a tight loop, but
// still a host call: check it every batch, not every row.
func Cancelled(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	h := rt.FromContext(ctx)
	return h != nil && h.IsCancelled() == 1
}

// FollowState returns what the coordinator last told this follow read
// (abi.StreamSpec.Follow): the latest checkpoint of the read it persisted
// and whether it asks the read to end at its next checkpoint. ok is false
// when the read does not follow, or the host does not serve follow reads.
// It is a host call: poll it every few hundred milliseconds, not per row.
func FollowState(ctx context.Context) (st abi.FollowState, ok bool, err error) {
	h, _ := rt.FromContext(ctx).(rt.Follower)
	if h == nil {
		return st, false, nil
	}
	buf := make([]byte, 512)
	for {
		rc := h.FollowState(buf)
		if rc == -abi.ENOENT {
			return st, false, nil
		}
		if rc < 0 {
			return st, false, hostError("follow_state", rc)
		}
		if int(rc) <= len(buf) {
			if err := json.Unmarshal(buf[:rc], &st); err != nil {
				return st, false, InternalError(fmt.Errorf("decode follow state: %w", err))
			}
			return st, true, nil
		}
		buf = make([]byte, rc)
	}
}
