package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHandler(t *testing.T) {
	m := New()
	m.Processed("source-postgres", "read", 100, 800)
	m.Processed("source-postgres", "read", 50, 400)
	m.GuestStarted()
	m.GuestStarted()
	m.GuestFinished()
	m.CacheHit()
	m.CacheMiss()
	var serving atomic.Bool
	serving.Store(true)
	srv := httptest.NewServer(m.Handler(serving.Load, ""))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`rapidbyte_worker_rows_total{connector="source-postgres",op="read"} 150`,
		`rapidbyte_worker_bytes_total{connector="source-postgres",op="read"} 1200`,
		`rapidbyte_worker_guest_instances 1`,
		`rapidbyte_worker_module_cache_hits_total 1`,
		`rapidbyte_worker_module_cache_misses_total 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	tests := []struct {
		name    string
		serving bool
		want    int
	}{{"serving", true, http.StatusOK}, {"draining", false, http.StatusServiceUnavailable}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serving.Store(tt.serving)
			if code, _ := get("/healthz"); code != tt.want {
				t.Errorf("/healthz = %d, want %d", code, tt.want)
			}
		})
	}
}

// TestPprofOptInAndAuthenticated checks that /debug/pprof/ is served only
// with a token (--pprof) and only to its bearers, while /metrics stays open.
func TestPprofOptInAndAuthenticated(t *testing.T) {
	m := New()
	off := httptest.NewServer(m.Handler(func() bool { return true }, ""))
	defer off.Close()
	on := httptest.NewServer(m.Handler(func() bool { return true }, "s3cret"))
	defer on.Close()
	tests := []struct {
		name, url, auth string
		want            int
	}{
		{"off", off.URL + "/debug/pprof/cmdline", "Bearer s3cret", http.StatusNotFound},
		{"no token", on.URL + "/debug/pprof/cmdline", "", http.StatusUnauthorized},
		{"wrong token", on.URL + "/debug/pprof/cmdline", "Bearer nope", http.StatusUnauthorized},
		{"token", on.URL + "/debug/pprof/cmdline", "Bearer s3cret", http.StatusOK},
		{"metrics open", on.URL + "/metrics", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("GET %s: %s, want %d", tt.url, res.Status, tt.want)
			}
		})
	}
}
