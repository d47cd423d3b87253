package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// objects is a decoded set of manifests.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	pvcs        map[string]*corev1.PersistentVolumeClaim
}

// decodeAll strictly decodes a multi-document YAML stream; unknown fields and
// wrong types fail the test.
func decodeAll(t *testing.T, name string, data []byte) objects {
	t.Helper()
	o := objects{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		pvcs:        map[string]*corev1.PersistentVolumeClaim{},
	}
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s doc %d: %v", name, i, err)
		}
		strict := func(v interface{ GetName() string }) string {
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				t.Fatalf("%s doc %d (%s): %v", name, i, head.Kind, err)
			}
			return v.GetName()
		}
		switch head.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			o.deployments[strict(d)] = d
		case "Service":
			s := &corev1.Service{}
			o.services[strict(s)] = s
		case "HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			o.hpas[strict(h)] = h
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			o.pdbs[strict(p)] = p
		case "PersistentVolumeClaim":
			p := &corev1.PersistentVolumeClaim{}
			o.pvcs[strict(p)] = p
		case "Kustomization":
		default:
			t.Fatalf("%s doc %d: unexpected kind %q", name, i, head.Kind)
		}
	}
	return o
}

func loadBase(t *testing.T) objects {
	t.Helper()
	var all []byte
	for _, f := range []string{"base/worker.yaml", "base/coordinator.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(append(all, b...), []byte("\n---\n")...)
	}
	return decodeAll(t, "base", all)
}

func TestBaseManifestsAreConsistent(t *testing.T) {
	o := loadBase(t)
	checkConsistent(t, o)
	if _, ok := o.pvcs["rapidbyte-coordinator-state"]; !ok {
		t.Error("base: coordinator state PVC missing")
	}
	if got := *o.deployments["rapidbyte-coordinator"].Spec.Replicas; got != 1 {
		t.Errorf("coordinator replicas = %d, want 1 (SQLite state)", got)
	}
}

// TestOverlaysRender renders every overlay with kubectl kustomize (offline)
// and checks the result as strictly as the base.
func TestOverlaysRender(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed; overlays are checked where it is")
	}
	dirs, _ := filepath.Glob("overlays/*")
	if len(dirs) == 0 {
		t.Fatal("no overlays")
	}
	for _, dir := range append([]string{"base"}, dirs...) {
		t.Run(dir, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", dir).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", dir, err)
			}
			o := decodeAll(t, dir, out)
			checkConsistent(t, o)
			if strings.HasSuffix(dir, "postgres-state") {
				c := o.deployments["rapidbyte-coordinator"].Spec.Template.Spec.Containers[0]
				env := envByName(c.Env)["RAPIDBYTE_STATE"]
				if env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil || env.Value != "" {
					t.Errorf("postgres overlay: RAPIDBYTE_STATE must come only from a Secret, got %+v", env)
				}
				if len(o.pvcs) != 0 {
					t.Errorf("postgres overlay keeps %d PVCs", len(o.pvcs))
				}
				// Two replicas share the store (run leases, takeover).
				d := o.deployments["rapidbyte-coordinator"]
				if got := *d.Spec.Replicas; got != 2 {
					t.Errorf("postgres overlay: coordinator replicas = %d, want 2", got)
				}
				if s := d.Spec.Strategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
					s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
					t.Errorf("postgres overlay: strategy %+v, want RollingUpdate with maxUnavailable 0 (one coordinator always up)", s)
				}
				key := envByName(c.Env)["RAPIDBYTE_STATE_KEY"]
				if key.ValueFrom == nil || key.ValueFrom.SecretKeyRef == nil || key.Value != "" {
					t.Errorf("postgres overlay: RAPIDBYTE_STATE_KEY must come only from a Secret, got %+v", key)
				}
				if pdb := o.pdbs["rapidbyte-coordinator"]; pdb == nil || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
					t.Errorf("postgres overlay: coordinator PodDisruptionBudget with minAvailable 1 missing, got %+v", pdb)
				}
			}
		})
	}
}

func envByName(env []corev1.EnvVar) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range env {
		m[e.Name] = e
	}
	return m
}

// checkConsistent checks the relations a cluster would only reveal at run
// time: selectors, named ports, probe targets, HPA/PDB targets, security.
func checkConsistent(t *testing.T, o objects) {
	t.Helper()
	for _, name := range []string{"rapidbyte-worker", "rapidbyte-coordinator"} {
		if o.deployments[name] == nil {
			t.Fatalf("deployment %s missing", name)
		}
	}
	for name, d := range o.deployments {
		tpl := d.Spec.Template
		for k, v := range d.Spec.Selector.MatchLabels {
			if tpl.Labels[k] != v {
				t.Errorf("%s: selector %s=%s not in template labels %v", name, k, v, tpl.Labels)
			}
		}
		sc := tpl.Spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod must run as non-root", name)
		}
		for _, c := range tpl.Spec.Containers {
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: root filesystem must be read-only", name, c.Name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("%s/%s: cpu and memory requests required", name, c.Name)
			}
			if ref := envByName(c.Env)["GOMAXPROCS"].ValueFrom; name == "rapidbyte-coordinator" && (ref == nil || ref.ResourceFieldRef == nil ||
				ref.ResourceFieldRef.Resource != "requests.cpu" || ref.ResourceFieldRef.ContainerName != "" && ref.ResourceFieldRef.ContainerName != c.Name) {
				t.Errorf("%s/%s: GOMAXPROCS must come from the container's cpu request", name, c.Name)
			}
			ports := map[int32]bool{}
			for _, p := range c.Ports {
				ports[p.ContainerPort] = true
			}
			if flagValue(c.Args, "--tls-cert") != "" {
				// Kubernetes gRPC probes cannot speak TLS: TCP or the plaintext
				// metrics /healthz instead, on a container port.
				for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
					switch {
					case p != nil && p.TCPSocket != nil && ports[p.TCPSocket.Port.IntVal]:
					case p != nil && p.HTTPGet != nil && ports[p.HTTPGet.Port.IntVal] && flagValue(c.Args, "--metrics-listen") != "":
					default:
						t.Errorf("%s/%s: with TLS the %s probe must be TCP or HTTP on a container port", name, c.Name, kind)
					}
				}
			} else {
				for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
					if p == nil || p.GRPC == nil {
						t.Errorf("%s/%s: %s probe must be a gRPC probe", name, c.Name, kind)
						continue
					}
					if !ports[p.GRPC.Port] {
						t.Errorf("%s/%s: %s probe port %d is not a container port", name, c.Name, kind, p.GRPC.Port)
					}
				}
				if s := c.ReadinessProbe.GRPC.Service; s == nil || !strings.HasPrefix(*s, "rapidbyte.v1.") {
					t.Errorf("%s/%s: readiness must probe the rapidbyte service's health", name, c.Name)
				}
				if listen := flagValue(c.Args, "--listen"); !strings.HasSuffix(listen, fmt.Sprintf(":%d", c.ReadinessProbe.GRPC.Port)) {
					t.Errorf("%s/%s: --listen %q does not match probe port %d", name, c.Name, listen, c.ReadinessProbe.GRPC.Port)
				}
			}
			mounts := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = true
			}
			vols := map[string]bool{}
			for _, v := range tpl.Spec.Volumes {
				vols[v.Name] = true
			}
			for m := range mounts {
				if !vols[m] {
					t.Errorf("%s/%s: volume mount %q has no volume", name, c.Name, m)
				}
			}
		}
	}
	for name, s := range o.services {
		d := deploymentFor(o, s.Spec.Selector)
		if d == nil {
			t.Errorf("service %s: selector %v matches no deployment", name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if !hasPort(d, p.TargetPort) {
				t.Errorf("service %s: target port %s not on deployment %s", name, p.TargetPort.String(), d.Name)
			}
		}
	}
	if hs := o.services["rapidbyte-worker-headless"]; hs == nil || hs.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Error("workers need a headless service for dns:/// round-robin")
	}
	coord := o.deployments["rapidbyte-coordinator"].Spec.Template.Spec.Containers[0]
	if w := flagValue(coord.Args, "--workers"); w != "dns:///rapidbyte-worker-headless:7071" {
		t.Errorf("coordinator --workers = %q, want the headless service", w)
	}
	for name, h := range o.hpas {
		if o.deployments[h.Spec.ScaleTargetRef.Name] == nil {
			t.Errorf("hpa %s targets missing deployment %s", name, h.Spec.ScaleTargetRef.Name)
		}
	}
	for name, p := range o.pdbs {
		if deploymentFor(o, p.Spec.Selector.MatchLabels) == nil {
			t.Errorf("pdb %s selects no deployment", name)
		}
	}
}

func flagValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func deploymentFor(o objects, sel map[string]string) *appsv1.Deployment {
	for _, d := range o.deployments {
		match := len(sel) > 0
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				match = false
			}
		}
		if match {
			return d
		}
	}
	return nil
}

func hasPort(d *appsv1.Deployment, p intstr.IntOrString) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}
