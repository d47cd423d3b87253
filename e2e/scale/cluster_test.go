package scale

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// workersName is the one DNS name behind which the workers run.
const workersName = "workers.rapidbyte.test"

// workerSlots is each worker's --max-streams: room for every read and
// write of the pipeline on one worker. With the default (2 × CPUs = 4 here)
// 16 guests (8 reads + 8 writes) compete for 4 slots on one worker: a read
// can hold a slot while its write queues, which can stall a run until the
// 10s queue timeout and a WORKER_BUSY retry. The scale runs measure
// spreading and failover, not slot contention.
const workerSlots = 2 * numStreams

// warmTimeout bounds the wait for a worker's background module warm-up.
const warmTimeout = 30 * time.Second

// worker is a worker process and its metrics endpoint.
type worker struct {
	*e2etest.Process
	// MetricsURL is its Prometheus endpoint (http://host:port/metrics).
	MetricsURL string
}

// cluster is a coordinator process dialling N worker processes through one
// DNS name.
type cluster struct {
	Coordinator *e2etest.Process
	Workers     []*worker
	DNS         *dnsServer
	// Target is the coordinator's --workers value.
	Target string
}

// startCluster starts n workers on 127.0.0.1..127.0.0.n (one shared port),
// a DNS server answering workersName with those addresses, and a
// coordinator with --workers dns://<dns>/workers.rapidbyte.test:<port>. It
// waits until every process serves and the coordinator health-watches every
// worker. Everything stops in cleanup (logs printed when the test failed).
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	e2etest.RequireBinaries(t)
	port := sharedPort(t, n)
	var addrs []netip.Addr
	for i := range n {
		addrs = append(addrs, netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}))
	}
	c := &cluster{DNS: startDNS(t, workersName, addrs)}
	dir := t.TempDir()
	t.Cleanup(func() {
		for _, p := range c.all() {
			if err := p.Stop(15 * time.Second); err != nil {
				t.Logf("stop %s: %v", p.Name, err)
			}
		}
		if t.Failed() {
			for _, p := range c.all() {
				t.Logf("=== %s log (tail):\n%s", p.Name, p.LogTail(40))
			}
		}
	})
	env := e2etest.Env{"RAPIDBYTE_CACHE_DIR": e2etest.CacheDir(t)}
	for i, a := range addrs {
		metrics := e2etest.FreeAddr(t)
		w := &worker{MetricsURL: "http://" + metrics + "/metrics", Process: &e2etest.Process{
			Name: fmt.Sprintf("worker-%d", i+1), Addr: netip.AddrPortFrom(a, uint16(port)).String(),
			Path: e2etest.BinPath(t, "rapidbyte-worker"), Env: env,
			LogPath: filepath.Join(dir, fmt.Sprintf("worker-%d.log", i+1)),
		}}
		w.Args = []string{"--listen", w.Addr, "--connectors-dir", e2etest.ConnectorsDir(t),
			"--cache-dir", e2etest.CacheDir(t), "--metrics-listen", metrics, "--drain-timeout", "2s",
			"--max-streams", strconv.Itoa(workerSlots),
			// As deployed (deploy/base/worker.yaml, RAPIDBYTE_PRELOAD): a
			// worker that loaded no module yet would start its streams
			// later than one the run's discovery had warmed.
			"--preload", "source-postgres,dest-postgres"}
		c.Workers = append(c.Workers, w)
		w.Start(t)
	}
	c.Target = fmt.Sprintf("dns://%s/%s:%d", c.DNS.Addr(), workersName, port)
	addr := e2etest.FreeAddr(t)
	c.Coordinator = &e2etest.Process{Name: "coordinator", Addr: addr, Path: e2etest.BinPath(t, "rapidbyte-coordinator"),
		Args: []string{"--listen", addr, "--workers", c.Target, "--connectors-dir", e2etest.ConnectorsDir(t),
			"--state", "sqlite://" + filepath.Join(dir, "state.db")},
		Env: env, LogPath: filepath.Join(dir, "coordinator.log")}
	c.Coordinator.Start(t)
	for _, p := range c.all() {
		if err := p.WaitHealthy(e2etest.HealthTimeout); err != nil {
			t.Fatalf("%v\n%s log:\n%s", err, p.Name, p.LogTail(40))
		}
	}
	c.waitWatched(t)
	c.waitWarm(t)
	return c
}

// waitWarm waits (at most warmTimeout, without failing) until every worker
// logged that its background module warm-up finished and that it loaded
// both preloaded connectors, so that module loading does not count in the
// measured run.
func (c *cluster) waitWarm(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(warmTimeout)
	for _, w := range c.Workers {
		for log := w.Log(); !strings.Contains(log, "module cache warm") || strings.Count(log, "worker.modules: module loaded:") < 2; log = w.Log() {
			if time.Now().After(deadline) {
				t.Logf("%s: no \"module cache warm\" log line after %s; measuring anyway", w.Name, warmTimeout)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitWatched waits until the coordinator resolved the name and every
// worker answered its health Watch (its balancer's subchannels are then
// ready).
func (c *cluster) waitWatched(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var missing []string
		for _, w := range c.Workers {
			st, err := scrape(t.Context(), w.MetricsURL)
			if err != nil || st.HealthWatch < 1 || st.HealthAnswers < 1 {
				missing = append(missing, fmt.Sprintf("%s (%v)", w.Name, err))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("coordinator (--workers %s, %d DNS A queries): no answered health Watch on %v after 30s",
				c.Target, c.DNS.aQueries.Load(), missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if q := c.DNS.aQueries.Load(); q < 1 {
		t.Fatalf("the coordinator reaches the workers without asking DNS (%d A queries)", q)
	}
	time.Sleep(100 * time.Millisecond) // the coordinator reading the SERVING answers sent
}

// Env is the CLI environment for this cluster.
func (c *cluster) Env() e2etest.Env {
	return e2etest.Env{"RAPIDBYTE_COORDINATOR": c.Coordinator.Addr}
}

// scrapeAll scrapes every worker (fails the test when one cannot be scraped).
func (c *cluster) scrapeAll(t *testing.T) []workerStats {
	t.Helper()
	out := make([]workerStats, len(c.Workers))
	for i, w := range c.Workers {
		st, err := scrape(t.Context(), w.MetricsURL)
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		out[i] = st
	}
	return out
}

func (c *cluster) all() []*e2etest.Process {
	var out []*e2etest.Process
	for _, w := range c.Workers {
		out = append(out, w.Process)
	}
	if c.Coordinator != nil {
		out = append(out, c.Coordinator)
	}
	return out
}

// sharedPort returns a TCP port free on 127.0.0.1 .. 127.0.0.n a moment ago.
func sharedPort(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		_, ps, err := net.SplitHostPort(e2etest.FreeAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(ps)
		free := true
		for i := range n {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+1, port))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on 127.0.0.1..127.0.0.%d", n)
	return 0
}
