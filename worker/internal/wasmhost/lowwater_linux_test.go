package wasmhost

import (
	"bytes"
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// lowWaterOf returns c's SO_RCVLOWAT.
func lowWaterOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// socketPair returns a host socket and the server end of its connection.
func socketPair(t *testing.T) (*hostSock, net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = srv.Close() })
	return &hostSock{tcp: c.(*net.TCPConn)}, srv
}

// readAll reads n bytes from s the way a guest does (a poll, then 5 ms
// timed reads), failing on anything but data.
func readAll(t *testing.T, s *hostSock, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, 256<<10)
	for timeout := int32(0); len(out) < n; {
		rc := s.read(context.Background(), buf[:min(len(buf), n-len(out))], timeout)
		switch {
		case rc > 0:
			out = append(out, buf[:rc]...)
			timeout = 0
		case rc == -11: // EAGAIN in the guest ABI
			timeout = 5
		default:
			t.Fatalf("sock_read = %d after %d of %d bytes", rc, len(out), n)
		}
	}
	return out
}

// TestLowWaterWhileStreaming checks the receive low-water mark's life: off
// for request-and-answer traffic, on once a socket has streamed a MiB, and
// off again, with the bytes below it delivered, when a read waits in vain.
func TestLowWaterWhileStreaming(t *testing.T) {
	s, srv := socketPair(t)
	answer := bytes.Repeat([]byte("a"), 2000)
	for range 200 { // 400 kB of answers, each waited for
		go func() { _, _ = srv.Write(answer) }()
		if got := readAll(t, s, len(answer)); !bytes.Equal(got, answer) {
			t.Fatal("answer corrupted")
		}
	}
	if s.lowWater || lowWaterOf(t, s.tcp) != 1 {
		t.Fatalf("request-and-answer traffic set the low-water mark (lowWater=%v, SO_RCVLOWAT=%d)", s.lowWater, lowWaterOf(t, s.tcp))
	}

	stream := make([]byte, 3<<20)
	for i := range stream {
		stream[i] = byte(i % 251)
	}
	tail := []byte("the last bytes of a result, fewer than the mark")
	go func() {
		for off := 0; off < len(stream); off += 8 << 10 {
			if _, err := srv.Write(stream[off : off+8<<10]); err != nil {
				return
			}
		}
		_, _ = srv.Write(tail)
	}()
	if got := readAll(t, s, streamingAfter+1); !bytes.Equal(got, stream[:streamingAfter+1]) {
		t.Fatal("stream corrupted before the mark")
	}
	if !s.lowWater || lowWaterOf(t, s.tcp) != lowWater {
		t.Fatalf("after a MiB streamed: lowWater=%v, SO_RCVLOWAT=%d; want %d", s.lowWater, lowWaterOf(t, s.tcp), lowWater)
	}
	rest := readAll(t, s, len(stream)-streamingAfter-1+len(tail))
	if !bytes.Equal(rest, append(stream[streamingAfter+1:], tail...)) {
		t.Fatal("stream or tail corrupted under the mark")
	}
	if !s.lowWater {
		t.Fatal("the mark dropped while the stream still flowed")
	}
	// A few bytes arrive while a read waits under the mark: the read waits
	// at most lowWaterWait (not the 100 ms asked for), drops the mark and
	// returns them.
	go func() {
		time.Sleep(time.Millisecond)
		_, _ = srv.Write(tail)
	}()
	start := time.Now()
	buf := make([]byte, 1024)
	rc := s.read(context.Background(), buf, 100)
	if took := time.Since(start); rc != int32(len(tail)) || !bytes.Equal(buf[:rc], tail) || took >= 50*time.Millisecond {
		t.Fatalf("read of a few bytes under the mark = %d after %v, want %d bytes within about %v", rc, took, len(tail), lowWaterWait)
	}
	if s.lowWater || lowWaterOf(t, s.tcp) != 1 {
		t.Fatalf("after a read waited in vain: lowWater=%v, SO_RCVLOWAT=%d; want 1", s.lowWater, lowWaterOf(t, s.tcp))
	}
}
