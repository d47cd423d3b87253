package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// imageBinaries maps each image the manifests use to the binary make builds
// into it.
var imageBinaries = map[string]string{
	"rapidbyte/worker":      "rapidbyte-worker",
	"rapidbyte/coordinator": "rapidbyte-coordinator",
}

// TestDeploymentsStartAndPassReadiness starts, for every container of every
// Deployment in base/, the real binary with that container's args and env
// (ports moved to free loopback ports, volumes and the image's paths mapped
// to temporary directories, Secrets to test values, HOME unwritable, no
// RAPIDBYTE_* from this environment) and checks that its readiness probe
// (gRPC health of the probe's service) passes. So a manifest and its binary
// cannot drift apart: a flag the binary lacks, a variable it ignores, a path
// it cannot write all fail here.
func TestDeploymentsStartAndPassReadiness(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	o := loadBase(t)
	if len(o.deployments) == 0 {
		t.Fatal("no Deployment in base/")
	}
	for name, d := range o.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				startAndProbe(t, root, d, c)
			})
		}
	}
}

func startAndProbe(t *testing.T, root string, d *appsv1.Deployment, c corev1.Container) {
	image, _, _ := strings.Cut(c.Image, ":")
	bin, ok := imageBinaries[image]
	if !ok {
		t.Fatalf("image %q: no binary known for it", c.Image)
	}
	binPath := filepath.Join(root, "bin", bin)
	if _, err := os.Stat(binPath); err != nil {
		t.Fatalf("%v (run make build)", err)
	}
	// Paths inside the image, then the pod's volumes.
	paths := map[string]string{"/opt/rapidbyte/connectors": filepath.Join(root, "dist", "connectors"), "/opt/rapidbyte/cache": t.TempDir()}
	for _, m := range c.VolumeMounts {
		paths[m.MountPath] = t.TempDir()
	}
	// Every container port moves to a free loopback port.
	ports := map[int32]int32{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = freePort(t)
	}
	// One pass, longest path first, so that a mapped path is never mapped
	// again (a checkout under /tmp beside the pod's /tmp volume).
	var pairs []string
	for _, from := range slices.SortedFunc(maps.Keys(paths), func(a, b string) int { return len(b) - len(a) }) {
		pairs = append(pairs, from, paths[from])
	}
	mapPaths := strings.NewReplacer(pairs...)
	rewrite := func(s string) string {
		s = mapPaths.Replace(s)
		for from, to := range ports {
			s = strings.ReplaceAll(s, "0.0.0.0:"+strconv.Itoa(int(from)), "127.0.0.1:"+strconv.Itoa(int(to)))
		}
		return s
	}
	var args []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		args = append(args, rewrite(a))
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/proc/rapidbyte-no-home"}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env = append(env, e.Name+"=test-"+e.ValueFrom.SecretKeyRef.Name)
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "requests.cpu":
			env = append(env, e.Name+"="+cpuRequestValue(c, e.ValueFrom.ResourceFieldRef.Divisor))
		case e.ValueFrom != nil:
			t.Fatalf("env %s: only literal values, Secrets and the cpu request are mapped", e.Name)
		default:
			env = append(env, e.Name+"="+rewrite(e.Value))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = env
	logPath := filepath.Join(t.TempDir(), "log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	probe := c.ReadinessProbe
	if probe == nil || probe.GRPC == nil {
		t.Fatalf("container %s has no gRPC readiness probe", c.Name)
	}
	port, ok := ports[probe.GRPC.Port]
	if !ok {
		t.Fatalf("readiness probe port %d is not a container port", probe.GRPC.Port)
	}
	service := ""
	if probe.GRPC.Service != nil {
		service = *probe.GRPC.Service
	}
	if err := waitServing(ctx, fmt.Sprintf("127.0.0.1:%d", port), service, exited); err != nil {
		select {
		case <-exited:
			err = fmt.Errorf("%w: %v", err, waitErr)
		default:
		}
		log, _ := os.ReadFile(logPath)
		t.Fatalf("%s %s: readiness probe: %v\nlog:\n%s", bin, strings.Join(args, " "), err, log)
	}
}

// waitServing polls gRPC health of service at addr until it is SERVING, the
// process exits or ctx ends.
func waitServing(ctx context.Context, addr, service string, exited <-chan struct{}) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return fmt.Errorf("not SERVING in time: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// cpuRequestValue is what the kubelet puts in an env var that refers to the
// container's requests.cpu: the request in units of divisor (1 when zero),
// rounded up.
func cpuRequestValue(c corev1.Container, divisor resource.Quantity) string {
	d := divisor.MilliValue()
	if d == 0 {
		d = 1000
	}
	m := c.Resources.Requests.Cpu().MilliValue()
	return strconv.FormatInt((m+d-1)/d, 10)
}
