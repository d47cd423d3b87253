package wasmhost

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
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

// socketPair returns a host socket and the server end of its connection,
// both under TLS when withTLS is set.
func socketPair(t *testing.T, withTLS bool) (*hostSock, net.Conn) {
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
	s := &hostSock{tcp: c.(*net.TCPConn)}
	if !withTLS {
		return s, srv
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // for its certificate
	cfg := ts.TLS
	ts.Close()
	tsrv := tls.Server(srv, cfg)
	go func() { _ = tsrv.Handshake() }()
	s.tls = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := s.tls.Handshake(); err != nil {
		t.Fatal(err)
	}
	return s, tsrv
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
		case rc == -abi.EAGAIN:
			timeout = 5
		default:
			t.Fatalf("sock_read = %d after %d of %d bytes", rc, len(out), n)
		}
	}
	return out
}

// TestLowWaterWhileStreaming checks the receive low-water mark's life: off
// for request-and-answer traffic, on once a socket has streamed a MiB (the
// data intact), and dropped by a read that waits in vain under it, which
// waits at most lowWaterWait and returns the bytes that came meanwhile.
func TestLowWaterWhileStreaming(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[withTLS], func(t *testing.T) {
			testLowWaterWhileStreaming(t, withTLS)
		})
	}
}

func testLowWaterWhileStreaming(t *testing.T, withTLS bool) {
	s, srv := socketPair(t, withTLS)
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

	// A stream: read in 64 KiB steps until the mark is set (a stall of the
	// writer may delay that, never prevent it), then the rest.
	stream := make([]byte, 8<<20)
	for i := range stream {
		stream[i] = byte(i % 251)
	}
	go func() {
		for off := 0; off < len(stream); off += 8 << 10 {
			if _, err := srv.Write(stream[off : off+8<<10]); err != nil {
				return
			}
		}
	}()
	var got []byte
	for !s.lowWater && len(got) < len(stream) {
		got = append(got, readAll(t, s, min(64<<10, len(stream)-len(got)))...)
	}
	// The answers count too: no read waited in vain since them, or only
	// briefly, which resets the count and delays the mark.
	if total := 200*len(answer) + len(got); !s.lowWater || total < streamingAfter || lowWaterOf(t, s.tcp) != lowWater {
		t.Fatalf("after %d bytes: lowWater=%v, SO_RCVLOWAT=%d; want the mark (%d) after at least %d", total, s.lowWater, lowWaterOf(t, s.tcp), lowWater, streamingAfter)
	}
	got = append(got, readAll(t, s, len(stream)-len(got))...)
	if !bytes.Equal(got, stream) {
		t.Fatal("stream corrupted")
	}

	// A few bytes arrive while a read waits under the mark: the read waits
	// at most lowWaterWait (not the 100 ms asked for), drops the mark and
	// returns them. The bytes are sent 1 ms into the wait; a writer late by
	// more than the cap, or a read that took 50 ms or more (it ignored the
	// cap, or the test was descheduled), is tried again.
	tail := []byte("the last bytes of a result, fewer than the mark")
	buf := make([]byte, 1024)
	sameCall, slow := false, 0
	for try := 0; try < 10 && !sameCall; try++ {
		if err := setLowWater(s.tcp, lowWater); err != nil {
			t.Fatal(err)
		}
		s.lowWater = true
		go func() {
			time.Sleep(time.Millisecond)
			_, _ = srv.Write(tail)
		}()
		start := time.Now()
		rc := s.read(context.Background(), buf, 100)
		took := time.Since(start)
		var rest []byte
		if rc > 0 && s.lowWater {
			// The bytes were queued before the read began, so it never
			// waited: a poll's answer. Try again.
			if rest = append(buf[:rc:rc], readAll(t, s, len(tail)-int(rc))...); !bytes.Equal(rest, tail) {
				t.Fatalf("tail = %q", rest)
			}
			continue
		}
		if s.lowWater || lowWaterOf(t, s.tcp) != 1 {
			t.Fatalf("after a read waited in vain: lowWater=%v, SO_RCVLOWAT=%d; want 1", s.lowWater, lowWaterOf(t, s.tcp))
		}
		if rc > 0 {
			rest = buf[:rc]
		} else if rc != -abi.EAGAIN {
			t.Fatalf("read under the mark = %d", rc)
		}
		if rest = append(rest, readAll(t, s, len(tail)-len(rest))...); !bytes.Equal(rest, tail) {
			t.Fatalf("tail = %q", rest)
		}
		if took >= 50*time.Millisecond {
			slow++
			continue
		}
		sameCall = rc > 0
	}
	if !sameCall {
		t.Errorf("bytes that came while a read waited under the mark were never returned by that read within 50 ms (%d of the tries took longer; the cap is %v)", slow, lowWaterWait)
	}
}
