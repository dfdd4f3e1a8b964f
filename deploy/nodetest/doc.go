// Package nodetest runs sonde the way its users do: a real single-node Kubernetes cluster
// (etcd, kube-apiserver, controller-manager, scheduler, kubelet, containerd, runc, CNI
// bridge) brought up on this machine by testdata/node/up.sh, images built locally, sonde
// installed by its Helm chart, a demo workload like our users', and real Prometheus, Loki
// and Tempo on the host. `make deps` (deps-node) builds and caches everything it needs.
//
// The node is a host-wide resource (a bridge, iptables rules, /var/lib/kubelet): one test
// process at a time brings it up, and its teardown (testdata/node/down.sh) undoes every
// host change, also after an earlier run that was killed.
package nodetest
