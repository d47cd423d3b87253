package container

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// tag is the image tag the test builds and runs, apart from users' images
// and from another test process's on the same docker host (its container
// names carry the process id too, see runHardened).
var tag = fmt.Sprintf("e2e-%d", os.Getpid())

// TestMain removes the images the package's tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if images.built {
		_ = exec.Command("docker", "rmi", "-f", "rapidbyte/worker:"+tag, "rapidbyte/coordinator:"+tag).Run()
	}
	os.Exit(code)
}

// requireDocker skips the test when docker does not answer, except under
// CI=true, where that fails it.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("docker is not available (%v: %s)", err, strings.TrimSpace(string(out)))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; .ci/run installs docker.io and starts dockerd")
	}
	t.Skip(msg)
}

// buildImages runs scripts/images.sh, which builds both images from this
// checkout without pulling anything, once for all the package's tests.
func buildImages(t *testing.T) {
	t.Helper()
	images.Do(func() {
		root := e2etest.RepoRoot(t)
		cmd := exec.Command(filepath.Join(root, "scripts", "images.sh"), tag)
		cmd.Dir = root
		images.built = true
		if out, err := cmd.CombinedOutput(); err != nil {
			images.err = fmt.Errorf("scripts/images.sh: %v\n%s", err, out)
		}
	})
	if images.err != nil {
		t.Fatal(images.err)
	}
}

// images is the one build of buildImages.
var images struct {
	sync.Once
	built bool
	err   error
}

// container is a running container.
type container struct{ id, name string }

// runHardened starts image with the manifests' securityContext on the host
// network; volumes map host directories (made writable for uid 65532) to
// container paths, dockerArgs add docker run options (limits). The
// container is named name and the process id, so that test processes
// sharing a docker host never remove each other's containers.
func runHardened(t *testing.T, name, image string, volumes map[string]string, dockerArgs []string, args ...string) *container {
	t.Helper()
	name = fmt.Sprintf("%s-%d", name, os.Getpid())
	run := []string{"run", "-d", "--name", name, "--network", "host", "--read-only",
		"--user", "65532:65532", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--tmpfs", "/tmp:uid=65532,gid=65532"}
	for host, path := range volumes {
		if err := os.Chmod(host, 0o777); err != nil {
			t.Fatal(err)
		}
		run = append(run, "-v", host+":"+path)
	}
	run = append(run, dockerArgs...)
	run = append(run, image)
	run = append(run, args...)
	_ = exec.Command("docker", "rm", "-f", name).Run()
	out, err := exec.Command("docker", run...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(run, " "), err, out)
	}
	c := &container{id: strings.TrimSpace(string(out)), name: name}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", "--tail", "50", c.name).CombinedOutput()
			t.Logf("%s logs:\n%s", c.name, logs)
		}
		_ = exec.Command("docker", "rm", "-f", c.name).Run()
	})
	return c
}

// waitServing polls gRPC health of service at addr until SERVING.
func waitServing(t *testing.T, addr, service string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s at %s not SERVING after 60s: %v", service, addr, last)
}

// TestImagesRunHardenedAndCopyATable builds both images, runs them as the
// manifests do, and copies a table through them with the CLI.
func TestImagesRunHardenedAndCopyATable(t *testing.T) {
	requireDocker(t)
	e2etest.RequirePostgres(t)
	buildImages(t)
	src := e2etest.NewDatabase(t, "rb_e2c_src")
	dst := e2etest.NewDatabase(t, "rb_e2c_dst")
	src.Exec(t, "CREATE TABLE items (id int PRIMARY KEY, v text, at timestamptz); INSERT INTO items SELECT g, 'v' || g, now() FROM generate_series(1, 5000) g")

	coordAddr, workerAddr := e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	// Only the listen address, the coordinator's workers and volumes: the
	// images' defaults (connectors, warmed cache, state path) do the rest.
	runHardened(t, "rb-e2c-worker", "rapidbyte/worker:"+tag, nil, nil, "--listen="+workerAddr)
	runHardened(t, "rb-e2c-coordinator", "rapidbyte/coordinator:"+tag,
		map[string]string{t.TempDir(): "/var/lib/rapidbyte"}, nil, "--listen="+coordAddr, "--workers="+workerAddr)
	waitServing(t, workerAddr, "rapidbyte.v1.WorkerService")
	waitServing(t, coordAddr, "rapidbyte.v1.CoordinatorService")

	file := e2etest.Pipeline{Name: "rb_e2c_copy", Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		Streams: []e2etest.Stream{{Name: "items"}}}.Write(t)
	res := e2etest.RunCLI(t, e2etest.Env{}, "--coordinator", coordAddr, "run", file)
	res.RequireExit(t, 0)
	e2etest.RequireSameTable(t, src, dst, "items", "items", "id", "id", "v", "at")
}

// TestWorkerSizesToItsCgroup runs the worker image under docker's CPU and
// memory limits and checks it sized itself to them: guest slots from the
// CPU quota (not the node's cores), a Go memory limit of 90% of the
// container's, and a guest memory budget of the limit less 256 MiB.
func TestWorkerSizesToItsCgroup(t *testing.T) {
	requireDocker(t)
	buildImages(t)
	addr := e2etest.FreeAddr(t)
	c := runHardened(t, "rb-e2c-sized", "rapidbyte/worker:"+tag, nil, []string{"--memory=2000m", "--cpus=0.5"}, "--listen="+addr)
	waitServing(t, addr, "rapidbyte.v1.WorkerService")
	logs, err := exec.Command("docker", "logs", c.name).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	// 2 per started core of 0.5 CPU = 2 slots; 90% of 2000 MiB; 2000 - 256
	// MiB of guest memory, 512 MiB per guest by default.
	want := fmt.Sprintf("max_streams=2 go_memory_limit=%d guest_memory_budget=%d guest_memory_mib=512", int64(2000<<20)/10*9, int64(2000-256)<<20)
	if !strings.Contains(string(logs), want) {
		t.Errorf("worker log lacks %q:\n%s", want, logs)
	}
}

// TestSmallWorkerAdmitsByMemory runs the worker image in a 512 MiB
// container (no swap) with 2 CPUs and copies four wide tables two at a
// time, each guest capped at 80 MiB (8 MiB batches): the worker sized itself from the
// cgroup (4 slots from the CPUs, GOMEMLIMIT 90% of 512 MiB, a 256 MiB guest
// budget that holds three such guests, not the four two streams want), so
// the excess read or write is answered RESOURCE_EXHAUSTED (WORKER_BUSY) and
// its stream retried; the run ends with every table exact and the container
// was never OOM-killed. Each table (~90 MB) is larger than all the relay
// and the gRPC windows hold in flight, so a read cannot finish before its
// write is admitted: the two streams' reads and writes overlap however fast
// the machine is (with 4 MB tables, on an idle machine, each read had ended
// before its write asked for memory, and nothing was refused).
func TestSmallWorkerAdmitsByMemory(t *testing.T) {
	requireDocker(t)
	e2etest.RequirePostgres(t)
	buildImages(t)
	src := e2etest.NewDatabase(t, "rb_e2c_mem_src")
	dst := e2etest.NewDatabase(t, "rb_e2c_mem_dst")
	const tables, cols, rows = 4, 30, 24_000
	var streams []e2etest.Stream
	for i := range tables {
		name := fmt.Sprintf("wide_%d", i)
		var defs, exprs []string
		for c := range cols {
			defs = append(defs, fmt.Sprintf("c%d text", c))
			exprs = append(exprs, fmt.Sprintf("repeat(md5((g * %d + %d)::text), 4)", i+1, c))
		}
		src.Exec(t, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, %s); INSERT INTO %s SELECT g, %s FROM generate_series(1, %d) g",
			name, strings.Join(defs, ", "), name, strings.Join(exprs, ", "), rows))
		streams = append(streams, e2etest.Stream{Name: name})
	}

	coordAddr, workerAddr, metricsAddr := e2etest.FreeAddr(t), e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	w := runHardened(t, "rb-e2c-small", "rapidbyte/worker:"+tag, nil,
		[]string{"--memory=512m", "--memory-swap=512m", "--cpus=2"},
		"--listen="+workerAddr, "--metrics-listen="+metricsAddr, "--queue-timeout=200ms")
	runHardened(t, "rb-e2c-small-coordinator", "rapidbyte/coordinator:"+tag,
		map[string]string{t.TempDir(): "/var/lib/rapidbyte"}, nil, "--listen="+coordAddr, "--workers="+workerAddr)
	waitServing(t, workerAddr, "rapidbyte.v1.WorkerService")
	waitServing(t, coordAddr, "rapidbyte.v1.CoordinatorService")

	// Sized from the cgroup: 2 slots per CPU; Go limit 90% of 512 MiB;
	// guest budget 512 MiB less 256 MiB kept; default guest cap half that.
	logs, err := exec.Command("docker", "logs", w.name).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("max_streams=4 go_memory_limit=%d guest_memory_budget=%d guest_memory_mib=128", int64(512<<20)/10*9, 256<<20)
	if !strings.Contains(string(logs), want) {
		t.Errorf("worker log lacks %q:\n%s", want, logs)
	}
	if got := scrape(t, metricsAddr, "rapidbyte_worker_guest_memory_budget_bytes"); got != 256<<20 {
		t.Errorf("guest memory budget gauge = %v, want %d", got, 256<<20)
	}

	file := e2etest.Pipeline{Name: "rb_e2c_mem", Source: e2etest.PGConfig(src, "public"), Destination: e2etest.PGConfig(dst, "public"),
		Streams: streams, Resources: map[string]any{"parallelism": 2, "max_memory": "80mb", "max_batch_bytes": "8mb", "max_retries": 40}}.Write(t)
	// Bounded: a worker that died would leave the run retrying for minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res := e2etest.RunCLIContext(ctx, t, e2etest.Env{}, "--coordinator", coordAddr, "run", "-o", "json", file)
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.OOMKilled}} {{.State.Running}} {{.RestartCount}}", w.name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "false true 0" {
		t.Errorf("worker container state (OOMKilled Running RestartCount) = %q %v, want false true 0", out, err)
	}
	res.RequireExit(t, 0)
	for _, s := range streams {
		e2etest.RequireSameTable(t, src, dst, s.Name, s.Name, "id", "id", "c0", "c29")
	}
	run := res.MustRunJSON(t)
	busy := 0
	for _, a := range run.AttemptErrors {
		if a.Error != nil && a.Error.Code == "WORKER_BUSY" {
			busy++
		}
	}
	if busy == 0 || run.RetryCount == 0 {
		t.Errorf("retries %d, attempt errors %+v: want the excess retried after WORKER_BUSY", run.RetryCount, run.AttemptErrors)
	}
	exhausted := scrape(t, metricsAddr, `grpc_server_handled_total{grpc_code="ResourceExhausted"`)
	if exhausted == 0 {
		t.Error("the worker answered no call RESOURCE_EXHAUSTED")
	}
	t.Logf("%d retries (%d after WORKER_BUSY), %v calls answered RESOURCE_EXHAUSTED, container peak memory %s",
		run.RetryCount, busy, exhausted, peakMemory(w.id))
	if got := scrape(t, metricsAddr, "rapidbyte_worker_guest_memory_reserved_bytes"); got != 0 {
		t.Errorf("guest memory still reserved after the run: %v", got)
	}
}

// scrape sums the samples of the worker's /metrics at addr whose line
// starts with prefix (a metric name, or a name and the start of its labels).
func scrape(t *testing.T, addr, prefix string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// peakMemory returns a container's peak memory use as its cgroup (v1 or
// v2 under docker's default cgroup parent) reports it, for the log only.
func peakMemory(id string) string {
	for _, f := range []string{"/sys/fs/cgroup/memory/docker/" + id + "/memory.max_usage_in_bytes",
		"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.peak"} {
		if b, err := os.ReadFile(f); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				return fmt.Sprintf("%d MiB", n>>20)
			}
		}
	}
	return "unknown"
}
