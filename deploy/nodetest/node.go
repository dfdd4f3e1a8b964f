package nodetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sondehq/sonde/exporters/backendtest"
)

// Node is the real single-node cluster of one test run.
type Node struct {
	t testing.TB
	// Dir holds the node's state: certificates, configs, process logs (logs/), kubeconfig.
	Dir string
	// Name and IP of the node (the kubelet's --hostname-override and --node-ip, on the
	// bridge the harness creates).
	Name, IP string
	// Kubeconfig is an admin kubeconfig for the cluster.
	Kubeconfig string
	// Env is what up.sh wrote to node.env (NODE_NAME, NODE_IP, KUBECONFIG, …).
	Env map[string]string

	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
}

// NodeDir is where the node keeps its state: $SONDE_NODE_DIR, else /tmp/sonde-node. It is a
// fixed path on purpose, so that a run killed before its teardown is cleaned up by the next.
func NodeDir() string {
	if d := os.Getenv("SONDE_NODE_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "sonde-node")
}

// Up brings the node up (testdata/node/up.sh, which first undoes any leftover of an earlier
// run) and registers its teardown (testdata/node/down.sh), which runs even when the test
// fails. SONDE_NODE_KEEP=1 leaves it up for a look after the test; `make node-down` then
// removes it.
func Up(t testing.TB) *Node {
	t.Helper()
	n := &Node{t: t, Dir: NodeDir()}
	t.Cleanup(func() {
		if os.Getenv("SONDE_NODE_KEEP") == "1" {
			t.Logf("SONDE_NODE_KEEP=1: the node stays up (state in %s); `make node-down` removes it", n.Dir)
			return
		}
		if t.Failed() {
			n.dumpLogs()
		}
		if out, err := n.script("down.sh"); err != nil {
			t.Errorf("node teardown: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if out, err := n.script("up.sh"); err != nil {
		n.dumpLogs()
		t.Fatalf("node up: %v\n%s", err, tailString(out, 8000))
	}
	t.Logf("node up in %s", time.Since(start).Round(time.Second))
	env, err := readEnvFile(filepath.Join(n.Dir, "node.env"))
	if err != nil {
		t.Fatalf("node up: %v", err)
	}
	n.Env, n.Name, n.IP = env, env["NODE_NAME"], env["NODE_IP"]
	n.Kubeconfig = env["KUBECONFIG"]
	if n.Kubeconfig == "" {
		n.Kubeconfig = filepath.Join(n.Dir, "kubeconfig")
	}
	if n.Name == "" || n.IP == "" {
		t.Fatalf("node.env lacks NODE_NAME or NODE_IP: %v", env)
	}
	if err := n.connect(); err != nil {
		t.Fatalf("node up: %v", err)
	}
	return n
}

func (n *Node) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", n.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", n.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	n.Config = cfg
	if n.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if n.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	n.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(n.Client.Discovery()))
	return nil
}

// script runs testdata/node/NAME with the node's directory and cache in its environment.
func (n *Node) script(name string, args ...string) (string, error) {
	return runScript(n.t, n.Dir, filepath.Join("testdata", "node", name), args...)
}

// runScript runs a script of this repository (rel, slash-separated) with NODE_DIR set and
// returns its combined output.
func runScript(t testing.TB, dir, rel string, args ...string) (string, error) {
	cmd := exec.Command(backendtest.RepoFile(t, rel), args...)
	cmd.Env = append(os.Environ(), "NODE_DIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// dumpLogs prints the tail of every node process log (kubelet, containerd, apiserver, …).
func (n *Node) dumpLogs() {
	files, _ := filepath.Glob(filepath.Join(n.Dir, "logs", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n.t.Logf("---- %s (last 4000 bytes) ----\n%s", filepath.Base(f), tailString(string(b), 4000))
	}
}

// Logs returns a node process's log (name: kubelet, containerd, kube-apiserver, …).
func (n *Node) Logs(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "logs", name+".log"))
	return string(b)
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		env[k] = strings.Trim(v, `"'`)
	}
	return env, sc.Err()
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Eventually polls cond every interval until it returns nil or timeout passes, then fails
// the test with cond's last error.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last, answered error // answered: the last error of a try that the deadline did not cut
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Minute)
		last = cond(cctx)
		ccancel()
		if last == nil {
			return
		}
		if ctx.Err() == nil {
			answered = last
		}
		select {
		case <-ctx.Done():
			if answered != nil && answered != last {
				t.Fatalf("%s: not done within %s: %v (the try before: %v)", what, timeout, last, answered)
			}
			t.Fatalf("%s: not done within %s: %v", what, timeout, last)
		case <-time.After(interval):
		}
	}
}
