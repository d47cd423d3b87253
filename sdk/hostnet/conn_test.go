package hostnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/rapidbyte/rapidbyte/sdk/internal/rt"
)

// fakeHost scripts sock_read results; everything else is unused.
type fakeHost struct {
	reads     []int32 // results of successive sock_read calls; data is 'x'
	timeouts  []int32
	cancelled bool
	written   []byte
	closed    int
	connect   int32
}

func (f *fakeHost) GetRequest([]byte) int32                     { return 0 }
func (f *fakeHost) SetResult([]byte) int32                      { return 0 }
func (f *fakeHost) SetError([]byte) int32                       { return 0 }
func (f *fakeHost) Log(int32, []byte) int32                     { return 0 }
func (f *fakeHost) EmitSchema([]byte) int32                     { return 0 }
func (f *fakeHost) EmitBatch(int, []batch.Node, [][]byte) int32 { return 0 }
func (f *fakeHost) NextBatch([]byte) int32                      { return 0 }
func (f *fakeHost) Checkpoint([]byte) int32                     { return 0 }
func (f *fakeHost) StateGet(string, []byte) int32               { return 0 }
func (f *fakeHost) StatePut(string, []byte) int32               { return 0 }
func (f *fakeHost) SockConnect(string) int32                    { return f.connect }
func (f *fakeHost) SockWrite(_ int32, p []byte) int32 {
	f.written = append(f.written, p...)
	return int32(len(p))
}
func (f *fakeHost) SockClose(int32) int32               { f.closed++; return 0 }
func (f *fakeHost) SockTLS(int32, []byte, []byte) int32 { return -abi.EIO }
func (f *fakeHost) IsCancelled() int32 {
	if f.cancelled {
		return 1
	}
	return 0
}

func (f *fakeHost) SockRead(_ int32, buf []byte, timeoutMs int32) int32 {
	f.timeouts = append(f.timeouts, timeoutMs)
	if len(f.reads) == 0 {
		return -abi.EAGAIN
	}
	n := f.reads[0]
	f.reads = f.reads[1:]
	for i := 0; i < int(n) && i < len(buf); i++ {
		buf[i] = 'x'
	}
	return n
}

func dial(t *testing.T, f *fakeHost) net.Conn {
	t.Helper()
	if f.connect == 0 {
		f.connect = 7
	}
	c, err := Dial(rt.WithHost(context.Background(), f), "tcp", "db:5432")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReadPollsThenWaits(t *testing.T) {
	yieldTime = func(time.Time) time.Duration { return 0 } // no other goroutine ran
	t.Cleanup(func() { yieldTime = time.Since })
	f := &fakeHost{reads: []int32{-abi.EAGAIN, -abi.EAGAIN, 3, 0}}
	c := dial(t, f)
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || n != 3 || string(buf[:3]) != "xxx" {
		t.Fatalf("read %d %v", n, err)
	}
	// First a poll (0), then short timed waits.
	if len(f.timeouts) != 3 || f.timeouts[0] != 0 || f.timeouts[1] != 5 || f.timeouts[2] != 5 {
		t.Errorf("timeouts %v", f.timeouts)
	}
	if _, err := c.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("want EOF, got %v", err)
	}
}

func TestReadDeadline(t *testing.T) {
	f := &fakeHost{}
	c := dial(t, f)
	start := time.Now() // before the deadline is set, so a pause between the two cannot shorten d
	_ = c.SetReadDeadline(start.Add(30 * time.Millisecond))
	_, err := c.Read(make([]byte, 4))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
		t.Errorf("deadline after %v", d)
	}
	// A past deadline fails at once; clearing it makes reads work again.
	_ = c.SetDeadline(time.Unix(1, 0))
	if _, err := c.Write([]byte("a")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past deadline: %v", err)
	}
	_ = c.SetDeadline(time.Time{})
	f.reads = []int32{1}
	if n, err := c.Read(make([]byte, 4)); n != 1 || err != nil {
		t.Errorf("read after clearing: %d %v", n, err)
	}
}

func TestReadStopsWhenHostCancels(t *testing.T) {
	f := &fakeHost{cancelled: true}
	c := dial(t, f)
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, ErrCancelled) {
		t.Fatalf("want ErrCancelled, got %v", err)
	}
}

func TestDialDeniedAndClose(t *testing.T) {
	f := &fakeHost{connect: -abi.EACCES}
	_, err := Dial(rt.WithHost(context.Background(), f), "tcp", "evil:1")
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("want ErrDenied, got %v", err)
	}
	if _, err := Dial(context.Background(), "udp", "x:1"); err == nil {
		t.Error("udp accepted")
	}
	f.connect = 3
	c := dial(t, f)
	if _, err := c.Write([]byte("hello")); err != nil || string(f.written) != "hello" {
		t.Fatalf("write: %v %q", err, f.written)
	}
	_ = c.Close()
	_ = c.Close()
	if f.closed != 1 {
		t.Errorf("closed %d times", f.closed)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if got, _ := LookupFunc(context.Background(), "db.internal"); len(got) != 1 || got[0] != "db.internal" {
		t.Errorf("LookupFunc = %v", got)
	}
}
