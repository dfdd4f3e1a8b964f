package memorylimiter

import (
	"bufio"
	"bytes"
	"os"
	runtimemetrics "runtime/metrics"
	"strconv"
	"strings"
)

// heapBytes returns the bytes of live and not yet swept heap objects: what the collector's
// memory limiter reads as runtime.MemStats.Alloc, without stopping the world.
func heapBytes() uint64 {
	s := []runtimemetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	runtimemetrics.Read(s)
	if s[0].Value.Kind() != runtimemetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// totalMemory returns the memory available to this process: the cgroup's limit (v2, then
// v1) when there is one, else the machine's memory; 0 when neither can be read.
func totalMemory() uint64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			break
		}
		n, err := strconv.ParseUint(v, 10, 64)
		// cgroup v1 reports "no limit" as a huge number (page-rounded MaxInt64).
		if err == nil && n > 0 && n < 1<<62 {
			return n
		}
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseUint(f[1], 10, 64)
			if err == nil {
				return kib << 10
			}
		}
	}
	return 0
}
