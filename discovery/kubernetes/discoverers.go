package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery"
	promk8s "github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/sondehq/sonde/internal/kube"
	"k8s.io/client-go/tools/cache"
)

// discoverySet is one configuration at work: the informer handles it holds and the
// Prometheus discoverers running on them. It is built whole and released whole.
type discoverySet struct {
	client      *kube.Client
	informers   []*kube.Informer
	discoverers []discovery.Discoverer

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newDiscoverySet acquires the informers args need from c and builds the discoverers over
// them; nothing runs until start.
func newDiscoverySet(c *kube.Cache, args *Arguments, logger *slog.Logger, events *prometheus.CounterVec) (_ *discoverySet, err error) {
	client, err := c.Client(args.ClientArgs)
	if err != nil {
		return nil, err
	}
	s := &discoverySet{client: client}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	namespaces, err := namespacesOf(args)
	if err != nil {
		return nil, err
	}
	inf := func(r kube.Resource, ns string, role Role) (*kube.Informer, error) {
		label, field := args.selector(role)
		i, err := client.Informer(kube.InformerKey{Resource: r, Namespace: ns, LabelSelector: label, FieldSelector: field})
		if err != nil {
			return nil, err
		}
		s.informers = append(s.informers, i)
		return i, nil
	}
	// Optional informers are passed to Prometheus as untyped nils when unused: a nil
	// *Informer in an interface would not compare equal to nil there.
	optional := func(want bool, r kube.Resource, ns string, role Role) (cache.SharedInformer, error) {
		if !want {
			return nil, nil
		}
		return inf(r, ns, role)
	}
	am := args.AttachMetadata
	nodes, err := optional(am.Node && args.Role != RoleNode && args.Role != RoleService, kube.Nodes, "", RoleNode)
	if err != nil {
		return nil, err
	}
	nsInf, err := optional(am.Namespace && args.Role != RoleNode, kube.Namespaces, "", "")
	if err != nil {
		return nil, err
	}
	if args.Role == RoleNode {
		n, err := inf(kube.Nodes, "", RoleNode)
		if err != nil {
			return nil, err
		}
		s.discoverers = append(s.discoverers, promk8s.NewNode(logger.With("role", "node"), n, events))
		return s, nil
	}
	for _, ns := range namespaces {
		rs, err := optional(am.Deployment && args.Role != RoleService, kube.ReplicaSets, ns, "")
		if err != nil {
			return nil, err
		}
		jobs, err := optional((am.Job || am.CronJob) && args.Role != RoleService, kube.Jobs, ns, "")
		if err != nil {
			return nil, err
		}
		switch args.Role {
		case RolePod:
			pods, err := inf(kube.Pods, ns, RolePod)
			if err != nil {
				return nil, err
			}
			s.discoverers = append(s.discoverers, promk8s.NewPod(logger.With("role", "pod"), pods, nodes, nsInf, rs, jobs,
				am.Deployment, am.Job, am.CronJob, events))
		case RoleService:
			svc, err := inf(kube.Services, ns, RoleService)
			if err != nil {
				return nil, err
			}
			s.discoverers = append(s.discoverers, promk8s.NewService(logger.With("role", "service"), svc, nsInf, events))
		case RoleEndpoints, RoleEndpointSlice:
			res := kube.Endpoints
			if args.Role == RoleEndpointSlice {
				res = kube.EndpointSlices
			}
			eps, err := inf(res, ns, args.Role)
			if err != nil {
				return nil, err
			}
			svc, err := inf(kube.Services, ns, RoleService)
			if err != nil {
				return nil, err
			}
			pods, err := inf(kube.Pods, ns, RolePod)
			if err != nil {
				return nil, err
			}
			if args.Role == RoleEndpoints {
				s.discoverers = append(s.discoverers, promk8s.NewEndpoints(logger.With("role", "endpoints"), eps, svc, pods,
					nodes, nsInf, rs, jobs, am.Deployment, am.Job, am.CronJob, events))
			} else {
				s.discoverers = append(s.discoverers, promk8s.NewEndpointSlice(logger.With("role", "endpointslice"), eps, svc, pods,
					nodes, nsInf, rs, jobs, am.Deployment, am.Job, am.CronJob, events))
			}
		default:
			return nil, fmt.Errorf("unknown role %q", args.Role)
		}
	}
	return s, nil
}

// namespacesOf returns the namespaces to watch; "" means all.
func namespacesOf(args *Arguments) ([]string, error) {
	names := append([]string(nil), args.Namespaces.Names...)
	if args.Namespaces.OwnNamespace {
		own, err := kube.OwnNamespace()
		if err != nil {
			return nil, err
		}
		names = append(names, own)
	}
	if len(names) == 0 {
		return []string{""}, nil
	}
	return names, nil
}

// start runs every discoverer, sending groups to ch, until stop.
func (s *discoverySet) start(ch chan<- []*targetgroup.Group) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, d := range s.discoverers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			d.Run(ctx, ch)
		}()
	}
}

// synced reports whether every informer has listed and every handler has seen the list.
func (s *discoverySet) synced() bool {
	for _, i := range s.informers {
		if !i.HandlersSynced() {
			return false
		}
	}
	return true
}

// failures returns the number of failed list/watch requests over the set's informers and
// the latest error.
func (s *discoverySet) failures() (n uint64, last error) {
	var errs []error
	for _, i := range s.informers {
		n += i.Failures()
		if err := i.LastError(); err != nil && !i.HasSynced() {
			errs = append(errs, fmt.Errorf("%s: %w", i.Key(), err))
		}
	}
	return n, errors.Join(errs...)
}

// check explains why the set has not synced: a failed list or watch (forbidden, say), or
// an API server that cannot be reached (the informers retry refused connections quietly).
// nil when neither is known.
func (s *discoverySet) check(ctx context.Context) error {
	if _, err := s.failures(); err != nil {
		return fmt.Errorf("cannot list or watch: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.client.Clientset().Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return fmt.Errorf("cannot reach the API server: %w", err)
	}
	return nil
}

// stop ends the discoverers (their sends give up when stopped), then releases the
// informers. Safe without start and twice.
func (s *discoverySet) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.release()
}

func (s *discoverySet) release() {
	for _, i := range s.informers {
		i.Release()
	}
	s.informers = nil
	if s.client != nil {
		s.client.Release()
	}
}
