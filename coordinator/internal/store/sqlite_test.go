package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/store"
	"github.com/rapidbyte/rapidbyte/coordinator/internal/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, openSQLite)
}

func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	urls := map[string]string{
		"absolute url": "sqlite://" + filepath.Join(dir, "a", "state.db"),
		"bare path":    filepath.Join(dir, "b.db"),
		"scheme colon": "sqlite:" + filepath.Join(dir, "c.db"),
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			s, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreateRun(ctx, store.Run{ID: "r1", Pipeline: "p", PipelineYAML: "y"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = store.Open(ctx, url) // migrations are idempotent
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.GetRun(ctx, "r1"); err != nil {
				t.Errorf("run lost across reopen: %v", err)
			}
			if v, err := s.SchemaVersion(ctx); err != nil || v != 4 {
				t.Errorf("SchemaVersion = %d, %v; want 4", v, err)
			}
		})
	}
}

func TestSQLiteConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(context.Background(), path)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, url := range []string{"mysql://x", "sqlite://", "sqlite:///tmp/x.db?mode=ro"} {
		t.Run(url, func(t *testing.T) {
			if s, err := store.Open(context.Background(), url); err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded", url)
			}
		})
	}
}

func TestDefaultURL(t *testing.T) {
	t.Setenv("HOME", "/home/x")
	if got, want := store.DefaultURL(), "sqlite:///home/x/.rapidbyte/state.db"; got != want {
		t.Errorf("DefaultURL = %q, want %q", got, want)
	}
}

// TestSQLiteLeaseAcrossHandles races two stores on one file (two embedded
// CLIs sharing a state file) for one pipeline's lease: exactly one wins.
func TestSQLiteLeaseAcrossHandles(t *testing.T) {
	ctx := context.Background()
	path := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	var stores [2]*store.DB
	for i := range stores {
		s, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	now := time.Now()
	for round := range 20 {
		pipeline := fmt.Sprintf("p%d", round)
		var wins [2]bool
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				l := store.Lease{Pipeline: pipeline, RunID: fmt.Sprintf("run-%d", i), Owner: fmt.Sprintf("cli-%d", i), ExpiresAt: now.Add(time.Minute)}
				_, ok, err := s.AcquireLease(ctx, l, now)
				if err != nil {
					t.Error(err)
				}
				wins[i] = ok
			})
		}
		wg.Wait()
		if wins[0] == wins[1] {
			t.Fatalf("round %d: wins %v, want exactly one", round, wins)
		}
	}
}
