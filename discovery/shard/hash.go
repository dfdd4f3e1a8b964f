package shard

import (
	"slices"
	"strings"

	"github.com/prometheus/common/model"
)

// Owner returns the member that owns key by rendezvous (highest random weight) hashing:
// every member scores score(member, key) and the highest wins. Every agent computes the
// same owner from the same member list, and when a member leaves only its keys move (to
// their second-highest member); when it returns they move back. "" when there are no
// members.
func Owner(members []string, key string) string {
	var (
		best  string
		bestS uint64
	)
	for _, m := range members {
		s := score(m, key)
		if best == "" || s > bestS || (s == bestS && m < best) {
			best, bestS = m, s
		}
	}
	return best
}

// score hashes member and key with FNV-1a and mixes the result (the splitmix64
// finalizer): FNV alone spreads similar strings poorly, which would bias the maximum.
// Stable across processes and versions, unlike hash/maphash.
func score(member, key string) uint64 {
	const prime = 1099511628211
	x := uint64(14695981039346656037) // FNV-1a offset basis
	for i := 0; i < len(member); i++ {
		x ^= uint64(member[i])
		x *= prime
	}
	x *= prime // the 0 separator byte: x ^= 0 is a no-op
	for i := 0; i < len(key); i++ {
		x ^= uint64(key[i])
		x *= prime
	}
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Key is what identifies a target for sharding: its labels without the __meta_ ones, in
// name order. Meta labels change with the object (readiness, annotations) without the
// target being another one, and must not move it.
func Key(t model.LabelSet) string {
	names := make([]string, 0, len(t))
	for n := range t {
		if !strings.HasPrefix(string(n), model.MetaLabelPrefix) {
			names = append(names, string(n))
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(string(t[model.LabelName(n)]))
		b.WriteByte(0xff)
	}
	return b.String()
}
