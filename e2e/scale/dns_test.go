package scale

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a minimal authoritative DNS server on UDP 127.0.0.1 that
// answers A queries for one name with a fixed address list (TTL 1s), empty
// NOERROR for the name's other record types and NXDOMAIN for other names.
// The gRPC dns resolver reaches it through the target's authority
// ("dns://127.0.0.1:PORT/name:port").
type dnsServer struct {
	conn  net.PacketConn
	name  string // fully qualified, lower case, trailing dot
	addrs []netip.Addr
	// aQueries counts the A queries answered for name.
	aQueries atomic.Int64
	wg       sync.WaitGroup
}

// startDNS serves name → addrs until the test ends.
func startDNS(t testing.TB, name string, addrs []netip.Addr) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen DNS: %v", err)
	}
	s := &dnsServer{conn: conn, name: strings.ToLower(strings.TrimSuffix(name, ".")) + ".", addrs: addrs}
	s.wg.Go(s.serve)
	t.Cleanup(func() {
		_ = conn.Close()
		s.wg.Wait()
	})
	return s
}

// Addr is the server's host:port.
func (s *dnsServer) Addr() string { return s.conn.LocalAddr().String() }

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp, ok := s.answer(buf[:n]); ok {
			_, _ = s.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query message; ok is false for
// messages that cannot be parsed (they are dropped).
func (s *dnsServer) answer(req []byte) (resp []byte, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	ours := strings.EqualFold(q.Name.String(), s.name)
	hdr := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !ours {
		hdr.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), hdr)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if ours && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		s.aQueries.Add(1)
		for _, a := range s.addrs {
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
			if b.AResource(rh, dnsmessage.AResource{A: a.As4()}) != nil {
				return nil, false
			}
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// TestDNSServer resolves through the in-test server with Go's resolver,
// the way grpc's dns resolver does for a target with an authority.
func TestDNSServer(t *testing.T) {
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")}
	s := startDNS(t, "workers.rapidbyte.test", want)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
	got, err := r.LookupHost(t.Context(), "workers.rapidbyte.test")
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if strings.Join(got, ",") != "127.0.0.1,127.0.0.3" {
		t.Errorf("lookup = %v, want %v", got, want)
	}
	if s.aQueries.Load() < 1 {
		t.Errorf("server counted %d A queries, want >= 1", s.aQueries.Load())
	}
	if _, err := r.LookupHost(t.Context(), "other.rapidbyte.test"); err == nil {
		t.Error("lookup of another name succeeded, want NXDOMAIN")
	}
}
