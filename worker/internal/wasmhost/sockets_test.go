package wasmhost

import (
	"crypto/tls"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// TestPollReadTLS checks the guest's non-blocking read of a TLS socket: a
// record waiting in the kernel is read and decrypted (a read whose deadline
// has already passed never reaches the socket), and an idle socket answers
// -EAGAIN at once.
func TestPollReadTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate
	cfg := srv.TLS
	srv.Close()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send := make(chan string)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if err := c.(*tls.Conn).Handshake(); err != nil {
			return
		}
		for s := range send {
			if _, err := c.Write([]byte(s)); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &hostSock{tcp: c.(*net.TCPConn), tls: tc}
	defer s.Close()
	buf := make([]byte, 64)

	start := time.Now()
	if rc := pollRead(s, buf); rc != -abi.EAGAIN {
		t.Fatalf("idle socket: %d, want -EAGAIN", rc)
	}
	// A poll waits at most tlsRecordWait for a record's rest; one that
	// blocked would wait until the test sends. The bound leaves room for a
	// descheduled test on a busy machine.
	if d := time.Since(start); d > time.Second {
		t.Errorf("idle poll took %v, want about %v at most", d, tlsRecordWait)
	}
	send <- "hello"
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc := pollRead(s, buf)
		if rc > 0 {
			if got := string(buf[:rc]); got != "hello" {
				t.Fatalf("read %q", got)
			}
			break
		}
		if rc != -abi.EAGAIN || time.Now().After(deadline) {
			t.Fatalf("poll: %d; the record never came through", rc)
		}
		time.Sleep(time.Millisecond)
	}
	close(send)
}
