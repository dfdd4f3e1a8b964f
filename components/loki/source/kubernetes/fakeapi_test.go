package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sondehq/sonde/internal/kube"
)

// fakeAPI is an httptest stand-in for the API server, enough for client-go's real code
// paths: pod list and watch (for the informer; the streaming "watch list" is refused, so
// the reflector falls back to list and watch, as with an older API server) and pods/log
// with follow, timestamps, container and sinceTime, served like the kubelet serves it
// (sinceTime in whole seconds, lines "<RFC3339Nano> <text>"). The real API server of
// discovery/kubetest cannot serve pods/log: there is no kubelet behind it.
type fakeAPI struct {
	srv *httptest.Server

	mu        sync.Mutex
	rv        int
	pods      map[string]*corev1.Pod // by namespace/name
	events    []podEvent
	logs      map[string]*fakeLog // by namespace/pod/container
	requests  []logRequest
	open      int             // log requests being served
	forbidden map[string]bool // namespace/pod whose logs are refused
	changed   chan struct{}   // closed and replaced on every change
}

type podEvent struct {
	rv  int
	typ string
	pod *corev1.Pod
}

type fakeLog struct {
	lines []logLine
	// cuts: the next requests end after writing this many lines (a broken connection).
	cuts []int
}

type logLine struct {
	ts   time.Time
	text string
}

// logRequest is one pods/log request as the fake saw it.
type logRequest struct {
	Namespace, Pod, Container string
	Follow                    bool
	SinceTime                 string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{
		pods: map[string]*corev1.Pod{}, logs: map[string]*fakeLog{}, forbidden: map[string]bool{},
		changed: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/pods", func(w http.ResponseWriter, r *http.Request) { f.pods_(w, r, "") })
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", func(w http.ResponseWriter, r *http.Request) { f.pods_(w, r, r.PathValue("ns")) })
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{pod}/log", f.log)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

// clientArgs reach the fake.
func (f *fakeAPI) clientArgs() kube.ClientArgs {
	u, err := url.Parse(f.srv.URL)
	if err != nil {
		panic(err)
	}
	c := kube.DefaultClientArgs()
	c.APIServer = config_util.URL{URL: u}
	return c
}

// notify wakes every waiting watch and log request; mu must be held.
func (f *fakeAPI) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func podKey(ns, name string) string { return ns + "/" + name }

// addPod creates (or updates) a pod whose given containers are running.
func (f *fakeAPI) addPod(ns, name, uid string, containers ...string) {
	f.setPod(ns, name, uid, containers, nil)
}

// setPod creates or updates a pod: running containers are running, stopped ones terminated.
func (f *fakeAPI) setPod(ns, name, uid string, running, stopped []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	typ := "MODIFIED"
	if f.pods[podKey(ns, name)] == nil {
		typ = "ADDED"
	}
	f.rv++
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: strconv.Itoa(f.rv)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, c := range running {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		})
	}
	for _, c := range stopped {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}},
		})
	}
	f.pods[podKey(ns, name)] = p
	f.events = append(f.events, podEvent{rv: f.rv, typ: typ, pod: p})
	f.notify()
}

// deletePod deletes a pod (its logs go with it).
func (f *fakeAPI) deletePod(ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pods[podKey(ns, name)]
	if p == nil {
		return
	}
	delete(f.pods, podKey(ns, name))
	f.rv++
	gone := p.DeepCopy()
	gone.ResourceVersion = strconv.Itoa(f.rv)
	f.events = append(f.events, podEvent{rv: f.rv, typ: "DELETED", pod: gone})
	f.notify()
}

// write appends lines to a container's log.
func (f *fakeAPI) write(ns, pod, container string, lines ...logLine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.logOf(ns, pod, container)
	l.lines = append(l.lines, lines...)
	f.notify()
}

// cut makes the next request of a container's log break after n lines.
func (f *fakeAPI) cut(ns, pod, container string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.logOf(ns, pod, container)
	l.cuts = append(l.cuts, n)
}

func (f *fakeAPI) forbid(ns, pod string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forbidden[podKey(ns, pod)] = true
}

func (f *fakeAPI) logOf(ns, pod, container string) *fakeLog {
	k := ns + "/" + pod + "/" + container
	if f.logs[k] == nil {
		f.logs[k] = &fakeLog{}
	}
	return f.logs[k]
}

// logRequests returns the pods/log requests seen so far.
func (f *fakeAPI) logRequests() []logRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]logRequest(nil), f.requests...)
}

// openStreams returns how many log requests are being served.
func (f *fakeAPI) openStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

func (f *fakeAPI) pods_(w http.ResponseWriter, r *http.Request, ns string) {
	q := r.URL.Query()
	if q.Get("watch") != "true" {
		f.mu.Lock()
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(f.rv)}}
		for _, p := range f.pods {
			if ns == "" || p.Namespace == ns {
				list.Items = append(list.Items, *p)
			}
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	if q.Get("sendInitialEvents") == "true" {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "sendInitialEvents is not supported")
		return
	}
	from, _ := strconv.Atoi(q.Get("resourceVersion"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for {
		f.mu.Lock()
		var send []podEvent
		for _, e := range f.events {
			if e.rv > from && (ns == "" || e.pod.Namespace == ns) {
				send = append(send, e)
			}
		}
		if len(f.events) > 0 {
			from = max(from, f.events[len(f.events)-1].rv)
		}
		changed := f.changed
		f.mu.Unlock()
		for _, e := range send {
			if err := enc.Encode(struct {
				Type   string      `json:"type"`
				Object *corev1.Pod `json:"object"`
			}{e.typ, e.pod}); err != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}

func (f *fakeAPI) log(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("ns"), r.PathValue("pod")
	q := r.URL.Query()
	req := logRequest{Namespace: ns, Pod: pod, Container: q.Get("container"), Follow: q.Get("follow") == "true", SinceTime: q.Get("sinceTime")}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	p, forbidden := f.pods[podKey(ns, pod)], f.forbidden[podKey(ns, pod)]
	l := f.logOf(ns, pod, req.Container)
	cut := -1
	if len(l.cuts) > 0 {
		cut, l.cuts = l.cuts[0], l.cuts[1:]
	}
	f.open++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
	}()
	switch {
	case forbidden:
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf(`pods "%s" is forbidden: User "sonde" cannot get resource "pods/log" in API group "" in the namespace "%s"`, pod, ns))
		return
	case p == nil:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf(`pods "%s" not found`, pod))
		return
	case q.Get("timestamps") != "true":
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "the fake serves timestamps=true only")
		return
	}
	var since time.Time
	if s := req.SinceTime; s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	written, next := 0, 0
	for {
		f.mu.Lock()
		lines := l.lines[next:]
		next = len(l.lines)
		running := f.runningLocked(ns, pod, req.Container)
		changed := f.changed
		f.mu.Unlock()
		for _, line := range lines {
			if line.ts.Before(since) {
				continue
			}
			if written == cut {
				return // the connection breaks
			}
			if _, err := fmt.Fprintf(w, "%s %s\n", line.ts.UTC().Format(time.RFC3339Nano), line.text); err != nil {
				return
			}
			written++
		}
		w.(http.Flusher).Flush()
		if !req.Follow || !running {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}

// runningLocked reports whether the container runs; mu must be held.
func (f *fakeAPI) runningLocked(ns, pod, container string) bool {
	p := f.pods[podKey(ns, pod)]
	if p == nil {
		return false
	}
	for _, st := range p.Status.ContainerStatuses {
		if st.Name == container {
			return st.State.Running != nil
		}
	}
	return false
}
