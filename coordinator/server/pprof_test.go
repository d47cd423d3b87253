package server

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPprofOptInAndAuthenticated checks the coordinator's metrics listener:
// /metrics stays open, /debug/pprof/ exists only with Pprof and then only
// for bearers of the auth token.
func TestPprofOptInAndAuthenticated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetch := func(url, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		var res *http.Response
		for {
			res, err = http.DefaultClient.Do(req)
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // the listener starts with Serve
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, pprof := range []bool{false, true} {
		addr := freeAddr(t)
		s := serve(ctx, t, Config{Workers: "127.0.0.1:1", State: "sqlite://" + filepath.Join(t.TempDir(), "state.db"),
			MetricsListen: addr, AuthToken: "s3cret", Pprof: pprof})
		base := "http://" + addr
		if code, body := fetch(base+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("pprof %v: /metrics without token = %d", pprof, code)
		}
		code, body := fetch(base+"/debug/pprof/cmdline", "Bearer s3cret")
		if !pprof && !strings.Contains(body, "go_goroutines") {
			// Every other path serves the metrics, as before.
			t.Errorf("pprof off: /debug/pprof/cmdline served something else than metrics (%d)", code)
		}
		if pprof {
			if code != http.StatusOK {
				t.Errorf("pprof on: with the token = %d", code)
			}
			if code, _ := fetch(base+"/debug/pprof/cmdline", ""); code != http.StatusUnauthorized {
				t.Errorf("pprof on: without a token = %d, want 401", code)
			}
			if code, _ := fetch(base+"/debug/pprof/cmdline", "Bearer nope"); code != http.StatusUnauthorized {
				t.Errorf("pprof on: wrong token = %d, want 401", code)
			}
		}
		s.stop()
		<-s.served
		_ = s.srv.Close()
	}
}
