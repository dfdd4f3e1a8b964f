package kubernetesevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
)

// markAnnotation is the Lease annotation that carries the delivered mark: the time (Unix
// nanoseconds) of the newest event whose delivery was acknowledged, with every event read
// before it acknowledged too.
const markAnnotation = "sonde.dev/kubernetes-events-delivered"

// leaseLock is client-go's resourcelock.LeaseLock plus the delivered mark: the leader
// writes its mark into the Lease with every renewal, and every agent reads it with every
// Get, so that whoever takes over knows where the previous leader stopped without any other
// object. (LeaseLock keeps the Lease it read to itself, so it cannot carry an annotation.)
//
// The LeaderElector calls Get, Create and Update from its own goroutine, one at a time;
// mark and lastErr are also read (and mark raised) by the component's goroutines.
type leaseLock struct {
	namespace, name, identity string
	client                    coordinationclient.LeasesGetter

	lease *coordinationv1.Lease // the Lease last read or written; elector goroutine only

	timeout  time.Duration      // bound of one request (renew_deadline)
	failures prometheus.Counter // failed requests

	mark    atomic.Int64                // delivered mark, Unix nanoseconds; 0: none known
	lastErr atomic.Pointer[errorHolder] // the last failed request, nil after a success
	holder  atomic.Pointer[string]      // holder seen in the Lease by the last Get
}

type errorHolder struct{ err error }

var _ resourcelock.Interface = (*leaseLock)(nil)

func newLeaseLock(client coordinationclient.LeasesGetter, namespace, name, identity string, timeout time.Duration, errs prometheus.Counter) *leaseLock {
	return &leaseLock{namespace: namespace, name: name, identity: identity, client: client, timeout: timeout, failures: errs}
}

// Get implements resourcelock.Interface; it raises the mark to the one in the Lease.
func (l *leaseLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	lease, err := l.client.Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		l.failed(err)
		return nil, nil, err
	}
	l.succeeded()
	l.lease = lease
	l.raise(readMark(lease))
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	h := rec.HolderIdentity
	l.holder.Store(&h)
	raw, err := json.Marshal(*rec)
	if err != nil {
		return nil, nil, err
	}
	return rec, raw, nil
}

// Create implements resourcelock.Interface.
func (l *leaseLock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.namespace},
		Spec:       resourcelock.LeaderElectionRecordToLeaseSpec(&rec),
	}
	l.writeMark(lease)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	created, err := l.client.Leases(l.namespace).Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		l.failed(err)
		return err
	}
	l.succeeded()
	l.lease = created
	return nil
}

// Update implements resourcelock.Interface; the Lease carries the mark as it is now.
func (l *leaseLock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	if l.lease == nil {
		return errors.New("lease not read yet")
	}
	if rec.HolderIdentity == "" && ptr.Deref(l.lease.Spec.HolderIdentity, "") != l.identity {
		// A release after the Lease was lost: client-go releases with the Lease it has
		// just read, whoever holds it, which would free the new leader's Lease.
		return errors.New("not released: the lease is held by " + ptr.Deref(l.lease.Spec.HolderIdentity, "nobody"))
	}
	lease := l.lease.DeepCopy()
	lease.Spec = resourcelock.LeaderElectionRecordToLeaseSpec(&rec)
	l.writeMark(lease)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	updated, err := l.client.Leases(l.namespace).Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		l.failed(err)
		return err
	}
	l.succeeded()
	l.lease = updated
	return nil
}

// RecordEvent implements resourcelock.Interface; the component logs leadership changes
// itself (recording Events would need the right to create them).
func (l *leaseLock) RecordEvent(string) {}

// Identity implements resourcelock.Interface.
func (l *leaseLock) Identity() string { return l.identity }

// Describe implements resourcelock.Interface.
func (l *leaseLock) Describe() string { return l.namespace + "/" + l.name }

// Mark returns the delivered mark; zero when none is known.
func (l *leaseLock) Mark() time.Time {
	if n := l.mark.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// raise moves the mark forward to t (never back).
func (l *leaseLock) raise(t time.Time) {
	if t.IsZero() {
		return
	}
	n := t.UnixNano()
	for {
		cur := l.mark.Load()
		if cur >= n || l.mark.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Err returns the last failed request to the Lease, or nil if the last one succeeded. A
// missing Lease (created next) and a conflict (another agent wrote first) are not failures.
func (l *leaseLock) Err() error {
	if h := l.lastErr.Load(); h != nil {
		return h.err
	}
	return nil
}

// Holder returns the holder the last Get saw ("" when the Lease is free or not read yet).
func (l *leaseLock) Holder() string {
	if h := l.holder.Load(); h != nil {
		return *h
	}
	return ""
}

func (l *leaseLock) failed(err error) {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || errors.Is(err, context.Canceled) {
		l.lastErr.Store(nil)
		return
	}
	if l.failures != nil {
		l.failures.Inc()
	}
	l.lastErr.Store(&errorHolder{fmt.Errorf("lease %s: %w", l.Describe(), err)})
}

func (l *leaseLock) succeeded() { l.lastErr.Store(nil) }

func (l *leaseLock) writeMark(lease *coordinationv1.Lease) {
	n := l.mark.Load()
	if n == 0 {
		return
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[markAnnotation] = strconv.FormatInt(n, 10)
}

// readMark returns the mark a Lease carries; zero when it has none (or a bad one).
func readMark(lease *coordinationv1.Lease) time.Time {
	n, err := strconv.ParseInt(lease.Annotations[markAnnotation], 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
