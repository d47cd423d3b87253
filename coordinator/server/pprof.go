package server

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// registerPprof serves the Go profiler under /debug/pprof/ on mux, for
// requests carrying "Authorization: Bearer <token>" only: a profile or the
// command line can hold secrets. token must not be empty (Validate refuses
// --pprof without --auth-token).
func registerPprof(mux *http.ServeMux, token string) {
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			if !ok || !strings.EqualFold(scheme, "bearer") || token == "" ||
				subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				http.Error(w, "missing or invalid bearer token", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("/debug/pprof/", guard(pprof.Index))
	mux.HandleFunc("/debug/pprof/cmdline", guard(pprof.Cmdline))
	mux.HandleFunc("/debug/pprof/profile", guard(pprof.Profile))
	mux.HandleFunc("/debug/pprof/symbol", guard(pprof.Symbol))
	mux.HandleFunc("/debug/pprof/trace", guard(pprof.Trace))
}
