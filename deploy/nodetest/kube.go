package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Apply creates or replaces (server-side apply) every object of a multi-document YAML.
func (n *Node) Apply(ctx context.Context, manifests []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode manifests: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := n.applyObject(ctx, &obj); err != nil {
			return err
		}
	}
}

func (n *Node) applyObject(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := n.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	res := n.Dynamic.Resource(mapping.Resource)
	force := true
	opts := metav1.PatchOptions{FieldManager: "sonde-nodetest", Force: &force}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		if ns != "default" {
			// A new namespace's default ServiceAccount comes a moment after it.
			if err := n.WaitServiceAccount(ctx, ns, "default"); err != nil {
				return err
			}
		}
		_, err = res.Namespace(ns).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	} else {
		_, err = res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// WaitServiceAccount waits until a service account exists: a new namespace's "default"
// appears a moment after the namespace, and pods created before are refused.
func (n *Node) WaitServiceAccount(ctx context.Context, ns, name string) error {
	for {
		_, err := n.Client.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service account %s/%s: %w", ns, name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ReadyPods returns the pods matching selector in ns, and an error unless there are at
// least want of them, all Running with every container ready.
func (n *Node) ReadyPods(ctx context.Context, ns, selector string, want int) ([]corev1.Pod, error) {
	pods, err := n.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podReady(&p) {
			ready = append(ready, p)
		}
	}
	if len(ready) < want {
		return ready, fmt.Errorf("%d of %d pods %s in %s ready (%s)", len(ready), want, selector, ns, describePods(pods.Items))
	}
	return ready, nil
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describePods says, for each pod, its phase and why a container is not running.
func describePods(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		s := p.Name + ": " + string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil:
				s += fmt.Sprintf(" [%s waiting %s: %s]", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
			case cs.State.Terminated != nil:
				s += fmt.Sprintf(" [%s terminated %s exit %d]", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
			case !cs.Ready:
				s += fmt.Sprintf(" [%s not ready, restarts %d]", cs.Name, cs.RestartCount)
			}
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no pods"
	}
	return strings.Join(parts, "; ")
}

// KillPod deletes a pod with no grace period, as `kubectl delete --grace-period=0 --force`.
func (n *Node) KillPod(ctx context.Context, ns, name string) error {
	zero := int64(0)
	return n.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
}

// Cordon marks the node unschedulable (or schedulable again with on=false).
func (n *Node) Cordon(ctx context.Context, on bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	_, err := n.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// Drain evicts every pod on the node that a `kubectl drain --ignore-daemonsets` would: all
// but DaemonSet pods and static pods, through the eviction API (PodDisruptionBudgets apply).
func (n *Node) Drain(ctx context.Context) error {
	pods, err := n.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if ownedByDaemonSet(&p) || p.DeletionTimestamp != nil {
			continue
		}
		ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
		if err := n.Client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("evict %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

func ownedByDaemonSet(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}
