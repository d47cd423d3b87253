package relay

import (
	"context"
	"testing"
	"time"
)

func TestByteGate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := newByteGate(ctx, 10)
	if !g.acquire(6) || !g.acquire(4) {
		t.Fatal("acquire within the limit failed")
	}
	got := make(chan bool)
	go func() { got <- g.acquire(1) }()
	select {
	case <-got:
		t.Fatal("acquire beyond the limit did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	g.release(6)
	if !<-got {
		t.Fatal("acquire after release failed")
	}
	g.release(4)
	g.release(1)
	if !g.acquire(100) {
		t.Fatal("a message larger than the limit must pass when nothing is queued")
	}
	go func() { got <- g.acquire(1) }()
	cancel()
	if <-got {
		t.Fatal("acquire after ctx ended succeeded")
	}
}
