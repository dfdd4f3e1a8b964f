package kubernetesevents

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func backOff() *corev1.Event {
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "cart.17f", Namespace: "shop", ResourceVersion: "812"},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Namespace: "shop", Name: "cart-7d9f", APIVersion: "v1", ResourceVersion: "640", FieldPath: "spec.containers{app}",
		},
		Reason:         "BackOff",
		Message:        `Back-off restarting failed container app in pod cart-7d9f_shop(1a2b)`,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: metav1.NewTime(t0),
		LastTimestamp:  metav1.NewTime(t0.Add(5 * time.Minute)),
		Count:          7,
		Type:           corev1.EventTypeWarning,
	}
}

func TestFormatLine(t *testing.T) {
	cases := []struct {
		name   string
		ev     func() *corev1.Event
		format string
		want   string
	}{
		{"kubelet event, logfmt (Alloy's keys and order)", backOff, FormatLogfmt,
			`name=cart-7d9f kind=Pod objectAPIversion=v1 objectRV=640 eventRV=812 sourcecomponent=kubelet sourcehost=node-1 reason=BackOff type=Warning count=7 msg="Back-off restarting failed container app in pod cart-7d9f_shop(1a2b)"`},
		{"kubelet event, json", backOff, FormatJSON,
			`{"count":7,"eventRV":"812","kind":"Pod","msg":"Back-off restarting failed container app in pod cart-7d9f_shop(1a2b)","name":"cart-7d9f","objectAPIversion":"v1","objectRV":"640","reason":"BackOff","sourcecomponent":"kubelet","sourcehost":"node-1","type":"Warning"}`},
		{"events.k8s.io event: series count, reporting controller, action", func() *corev1.Event {
			return &corev1.Event{
				ObjectMeta:          metav1.ObjectMeta{ResourceVersion: "9"},
				InvolvedObject:      corev1.ObjectReference{Kind: "Node", Name: "node-1"},
				Action:              "Scheduling",
				ReportingController: "default-scheduler",
				ReportingInstance:   "default-scheduler-cp-1",
				Reason:              "FailedScheduling",
				Type:                corev1.EventTypeWarning,
				Message:             "0/3 nodes are available",
				Series:              &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(t0)},
				Count:               1,
			}
		}, FormatLogfmt,
			`name=node-1 kind=Node action=Scheduling eventRV=9 reportinginstance=default-scheduler-cp-1 reportingcontroller=default-scheduler reason=FailedScheduling type=Warning count=4 msg="0/3 nodes are available"`},
		{"values that need quoting, empty message", func() *corev1.Event {
			return &corev1.Event{
				InvolvedObject: corev1.ObjectReference{Name: "x"},
				Reason:         `odd "reason"`,
				Source:         corev1.EventSource{Component: "a=b"},
			}
		}, FormatLogfmt, `name=x sourcecomponent="a=b" reason="odd \"reason\"" msg=""`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, formatLine(tc.ev(), tc.format))
		})
	}
}

func TestEventTime(t *testing.T) {
	e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}
	require.Equal(t, t0, eventTime(e), "creation, when nothing else is set")
	e.FirstTimestamp = metav1.NewTime(t0.Add(time.Second))
	require.Equal(t, t0.Add(time.Second), eventTime(e))
	e.EventTime = metav1.NewMicroTime(t0.Add(2 * time.Second))
	require.Equal(t, t0.Add(2*time.Second), eventTime(e).UTC())
	e.LastTimestamp = metav1.NewTime(t0.Add(3 * time.Second))
	require.Equal(t, t0.Add(3*time.Second), eventTime(e))
	e.Series = &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(t0.Add(4 * time.Second))}
	require.Equal(t, t0.Add(4*time.Second), eventTime(e).UTC())
}

func TestLabels(t *testing.T) {
	require.Equal(t, "{instance=\"loki.source.kubernetes_events/cluster\", job=\"loki.source.kubernetes_events\", namespace=\"shop\"}",
		labelsFor(DefaultJobName, "loki.source.kubernetes_events/cluster", "shop").String())
	require.NotContains(t, labelsFor(DefaultJobName, "x", ""), "namespace", "cluster-scoped objects (nodes) have no namespace")
}
