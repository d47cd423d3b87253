// Command test-faulty is a test connector that misbehaves on purpose, to
// test the runtime's sandbox and error handling. Config "mode" selects the
// fault, run during Read (or Open with "phase": "open"):
//
//	trap            out-of-bounds memory access (wasm trap)
//	panic           nil dereference (recovered by the SDK: internal error)
//	goroutine_panic panic in a goroutine (the Go runtime exits the guest)
//	exit            os.Exit(3)
//	oom             allocate until the memory limit
//	hang            busy loop forever, never polls
//	sleep_forever   sleep in a host call forever, ignoring cancellation
//	wait_cancel     sleep until the host cancels, then return ctx.Err()
//	dial_forbidden  dial "addr" (off the allow-list); misclassify the error
//	echo            dial "addr", write "ping", expect "ping" back
//	tls_echo        like echo, over crypto/tls (server certificate not verified)
//	block_read      dial "addr" and read until the host cancels
//	garbage_ptr     emit_batch with out-of-range pointers
//	garbage_offsets emit_batch with decreasing utf8 offsets
//	garbage_count   emit_batch with the wrong buffer count
//	bad_error       return an error with an invalid envelope
//	read_file       read "path" (must fail: no filesystem)
//	read_env        check that only the "expect_env" variables are visible
//	fail            fail with a classified error of category "category"
//	                (code "FAULTY_<CATEGORY>")
//	ok              emit one row
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/rapidbyte/rapidbyte/sdk"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/hostnet"
)

func init() { sdk.Serve(sdk.Connector{Source: &faulty{}}) }

func main() {}

type config struct {
	Mode      string            `json:"mode"`
	Phase     string            `json:"phase"`
	Addr      string            `json:"addr"`
	Host      string            `json:"host"`
	Path      string            `json:"path"`
	Category  string            `json:"category"`
	ExpectEnv map[string]string `json:"expect_env"`
}

type faulty struct{ cfg config }

var sink [][]byte

var spin uint64

// trapOffset is a variable so the out-of-bounds address is computed at run time.
var trapOffset = 0x7FFFFFF0

func (f *faulty) Open(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&f.cfg); err != nil {
		return err
	}
	if f.cfg.Phase == "open" {
		return f.fault(ctx, nil)
	}
	return nil
}

func (f *faulty) Discover(context.Context) (*abi.Catalog, error) {
	return &abi.Catalog{Streams: []abi.Stream{{Name: "faults", Columns: []abi.Column{{Name: "id", ArrowType: "int64"}},
		SupportedSyncModes: []string{abi.SyncFullRefresh}}}}, nil
}

func (f *faulty) Check(ctx context.Context) error { return f.fault(ctx, nil) }

func (f *faulty) Read(ctx context.Context, _ sdk.ReadRequest, e sdk.Emitter) error {
	return f.fault(ctx, e)
}

func (f *faulty) Close(context.Context) error { return nil }

func (f *faulty) fault(ctx context.Context, e sdk.Emitter) error {
	switch f.cfg.Mode {
	case "trap":
		p := (*uint64)(unsafe.Add(unsafe.Pointer(&spin), trapOffset))
		*p = 1
		return errors.New("unreachable: trap did not trap")
	case "panic":
		var m map[string]*int
		return fmt.Errorf("unreachable: %d", *m["x"])
	case "goroutine_panic":
		done := make(chan struct{})
		go func() { panic("boom in a goroutine") }()
		<-done
		return nil
	case "exit":
		os.Exit(3)
	case "oom":
		for {
			sink = append(sink, make([]byte, 32<<20))
			sink[len(sink)-1][0] = 1
		}
	case "hang":
		for {
			spin++
		}
	case "sleep_forever":
		for {
			time.Sleep(50 * time.Millisecond)
		}
	case "wait_cancel":
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		return ctx.Err()
	case "dial_forbidden":
		_, err := hostnet.Dial(ctx, "tcp", f.cfg.Addr)
		if err == nil {
			return errors.New("dial of a forbidden address succeeded")
		}
		return sdk.TransientNetworkError(err) // deliberately misclassified
	case "echo", "tls_echo":
		return echo(ctx, f.cfg.Addr, f.cfg.Mode == "tls_echo")
	case "block_read":
		c, err := hostnet.Dial(ctx, "tcp", f.cfg.Addr)
		if err != nil {
			return sdk.TransientNetworkError(err)
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 16))
		return sdk.TransientNetworkError(fmt.Errorf("read returned: %w", err))
	case "garbage_ptr", "garbage_offsets", "garbage_count":
		return garbage(f.cfg.Mode)
	case "bad_error":
		return &sdk.Error{Envelope: abi.ErrorEnvelope{Category: "bogus", CommitState: "whenever"}}
	case "read_file":
		b, err := os.ReadFile(f.cfg.Path)
		if err != nil {
			return sdk.PermissionError(fmt.Errorf("read %s: %w", f.cfg.Path, err), sdk.WithCode("no_fs"))
		}
		return sdk.InternalError(fmt.Errorf("read %s succeeded: %d bytes", f.cfg.Path, len(b)), sdk.WithCode("fs_leak"))
	case "read_env":
		var names []string
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			if want, ok := f.cfg.ExpectEnv[k]; !ok || want != v {
				names = append(names, k)
			}
		}
		for k, v := range f.cfg.ExpectEnv {
			if os.Getenv(k) != v {
				names = append(names, "missing:"+k)
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			return sdk.InternalError(fmt.Errorf("unexpected environment: %s", strings.Join(names, ",")), sdk.WithCode("env_leak"))
		}
		return nil
	case "fail":
		env := abi.NewErrorEnvelope(f.cfg.Category, "FAULTY_"+strings.ToUpper(f.cfg.Category),
			"test-faulty fails with category "+f.cfg.Category)
		return &sdk.Error{Envelope: env}
	case "ok", "":
		if e == nil {
			return nil
		}
		b, err := e.Schema([]abi.Field{{Name: "id", Type: "int64"}})
		if err != nil {
			return err
		}
		b.Int64(0).Append(1)
		return e.Emit(b)
	}
	return sdk.ConfigError(fmt.Errorf("config field \"mode\": unknown mode %q", f.cfg.Mode))
}

func echo(ctx context.Context, addr string, useTLS bool) error {
	raw, err := hostnet.Dial(ctx, "tcp", addr)
	if err != nil {
		return sdk.TransientNetworkError(err)
	}
	c := raw
	if useTLS {
		tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // test connector
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return sdk.TransientNetworkError(fmt.Errorf("tls handshake: %w", err))
		}
		c = tc
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return sdk.InternalError(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		return sdk.TransientNetworkError(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return sdk.TransientNetworkError(err)
	}
	if string(buf) != "ping" {
		return sdk.DataError(fmt.Errorf("echo returned %q", buf))
	}
	return nil
}
