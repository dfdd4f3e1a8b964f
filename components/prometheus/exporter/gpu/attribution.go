package gpu

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/sondehq/sonde/components/prometheus/exporter/gpu/podresources"
)

// podRef is one container holding a GPU or MIG device; VGPU is the replica number when
// the device plugin shares the GPU by time-slicing (dcgm-exporter's "vgpu" label).
type podRef struct {
	Namespace, Pod, Container, VGPU string
}

// attribution maps a device id, as the device plugin names it and without its replica
// suffix, to the containers holding it.
type attribution map[string][]podRef

// newAttribution indexes pod-resources assignments by device id.
//
// Device ids, by device plugin:
//   - NVIDIA: "GPU-<uuid>", "MIG-<uuid>", legacy "MIG-GPU-<uuid>/<gi>/<ci>"; time-sliced
//     replicas append "::<n>".
//   - GKE: "nvidia<minor>", MIG "nvidia<minor>/gi<gi>"; time-shared replicas append
//     "/vgpu<n>".
func newAttribution(as []podresources.Assignment) attribution {
	m := attribution{}
	for _, a := range as {
		for _, id := range a.DeviceIDs {
			key, vgpu := splitReplica(id)
			ref := podRef{Namespace: a.Namespace, Pod: a.Pod, Container: a.Container, VGPU: vgpu}
			if !slices.Contains(m[key], ref) {
				m[key] = append(m[key], ref)
			}
		}
	}
	return m
}

// splitReplica removes a time-slicing replica suffix from a device id.
func splitReplica(id string) (key, replica string) {
	if k, r, ok := strings.Cut(id, "::"); ok {
		return k, r
	}
	if i := strings.Index(id, "/vgpu"); i >= 0 {
		return id[:i], id[i+len("/vgpu"):]
	}
	return id, ""
}

// lookup returns the containers holding any of keys, sorted, without duplicates.
func (a attribution) lookup(keys []string) []podRef {
	var out []podRef
	for _, k := range keys {
		for _, r := range a[k] {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(x, y podRef) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Pod, y.Pod),
			cmp.Compare(x.Container, y.Container), cmp.Compare(x.VGPU, y.VGPU))
	})
	return out
}

// gpuKeys are the ids a device plugin may use for a whole GPU.
func gpuKeys(uuid string, minor int) []string {
	keys := []string{uuid}
	if minor >= 0 {
		keys = append(keys, "nvidia"+strconv.Itoa(minor))
	}
	return keys
}

// migKeys are the ids a device plugin may use for the MIG devices of one GPU instance.
func migKeys(parentUUID string, minor, gi int, migUUIDs []string, cis []int) []string {
	keys := append([]string(nil), migUUIDs...)
	for _, ci := range cis {
		keys = append(keys, "MIG-"+parentUUID+"/"+strconv.Itoa(gi)+"/"+strconv.Itoa(ci))
	}
	if minor >= 0 {
		keys = append(keys, "nvidia"+strconv.Itoa(minor)+"/gi"+strconv.Itoa(gi))
	}
	return keys
}
