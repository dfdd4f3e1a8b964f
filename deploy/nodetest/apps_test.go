package nodetest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// decodeAll decodes a multi-document YAML into typed objects, strictly: an unknown or
// misspelt field fails the test.
func decodeAll(t *testing.T, manifests []byte) []runtime.Object {
	t.Helper()
	dec := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		objs = append(objs, obj)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

func TestRenderWorkload(t *testing.T) {
	manifests, err := RenderWorkload(WorkloadParams{RunID: "r42", Rate: 300})
	if err != nil {
		t.Fatal(err)
	}
	scraped := map[string]string{} // deployment → prometheus.io/port
	pods := map[string]corev1.PodTemplateSpec{}
	kinds := map[string]int{}
	for _, obj := range decodeAll(t, manifests) {
		kinds[obj.GetObjectKind().GroupVersionKind().Kind]++
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			continue
		}
		pods[d.Name] = d.Spec.Template
		if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] == "true" {
			if a["prometheus.io/path"] != "/metrics" {
				t.Errorf("%s: prometheus.io/path %q", d.Name, a["prometheus.io/path"])
			}
			scraped[d.Name] = a["prometheus.io/port"]
		}
	}
	for kind, want := range map[string]int{"Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Deployment": 4} {
		if kinds[kind] != want {
			t.Errorf("%d %s objects, want %d (all: %v)", kinds[kind], kind, want, kinds)
		}
	}
	if scraped["demo"] != "8080" || scraped["kube-state-metrics"] != "8080" || len(scraped) != 2 {
		t.Errorf("annotated for scraping: %v, want demo and kube-state-metrics on 8080", scraped)
	}
	for name, p := range pods {
		c := p.Spec.Containers[0]
		if c.ImagePullPolicy != corev1.PullNever || !strings.HasPrefix(c.Image, "sonde.test/") || !strings.HasSuffix(c.Image, ":dev") {
			t.Errorf("%s: image %s, pull policy %s", name, c.Image, c.ImagePullPolicy)
		}
		if name != "kube-state-metrics" && p.Labels["app"] != name {
			t.Errorf("%s: app label %q", name, p.Labels["app"])
		}
	}
	demo := pods["demo"].Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range demo.Env {
		env[e.Name] = e
	}
	if env["RUN_ID"].Value != "r42" || env["RATE"].Value != "300" || env["HOST_IP"].ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		t.Errorf("demo env: %+v", demo.Env)
	}
	if demo.Name != "demo" {
		t.Errorf("demo container named %q", demo.Name)
	}
	if !pods["static-target"].Spec.HostNetwork {
		t.Error("static target not on the host network")
	}
	if ksm := pods["kube-state-metrics"]; ksm.Spec.ServiceAccountName != "kube-state-metrics" || ksm.Spec.Containers[0].Image != "sonde.test/kube-state-metrics:dev" {
		t.Errorf("kube-state-metrics pod: %+v", ksm.Spec)
	}
}

func TestRenderBurst(t *testing.T) {
	p := BurstPod("burst-07", 50)
	if p.Name != "burst-07" || p.Namespace != "shop" || p.Labels["app"] != "burst" || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("burst pod: %+v", p.ObjectMeta)
	}
	if c := p.Spec.Containers[0]; c.Name != "burst" || c.Env[1].Name != "LINES" || c.Env[1].Value != "50" {
		t.Errorf("burst container: %+v", c)
	}
	if _, err := RenderManifest("burst-pod.yaml", WorkloadParams{BurstName: "Not_A_Name"}); err == nil {
		t.Error("a pod name that is no DNS label was accepted")
	}
}

// TestBuildApps builds every app as the real-node test does, and checks each is static.
func TestBuildApps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs")
	}
	bins, err := BuildApps(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo", "longlines", "burst"} {
		if bins[name] == "" {
			t.Fatalf("no %s in %v", name, bins)
		}
	}
	for name, bin := range bins {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
}
