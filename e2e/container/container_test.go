package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rapidbyte/rapidbyte/e2e/internal/e2etest"
)

// tag is the image tag the test builds and runs, apart from users' images.
const tag = "e2e"

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
// checkout without pulling anything.
func buildImages(t *testing.T) {
	t.Helper()
	root := e2etest.RepoRoot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "images.sh"), tag)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	}
}

// container is a running container.
type container struct{ id, name string }

// runHardened starts image with the manifests' securityContext on the host
// network; volumes map host directories (made writable for uid 65532) to
// container paths, dockerArgs add docker run options (limits).
func runHardened(t *testing.T, name, image string, volumes map[string]string, dockerArgs []string, args ...string) *container {
	t.Helper()
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
// CPU quota (not the node's cores) within what the memory limit holds at
// 512 MiB per guest, and a Go memory limit of 90% of the container's.
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
	// 2 per started core of 0.5 CPU = 2 slots, within (2000 MiB - 256 MiB
	// reserve) / 512 MiB = 3; 90% of 2000 MiB.
	want := fmt.Sprintf("max_streams=2 go_memory_limit=%d", int64(2000<<20)/10*9)
	if !strings.Contains(string(logs), want) {
		t.Errorf("worker log lacks %q:\n%s", want, logs)
	}
}
