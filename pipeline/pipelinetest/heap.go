package pipelinetest

import "runtime"

// HeapInUseMiB returns the heap in use after a full collection, in MiB: what memory tests
// compare before and after a load (an outage and its backlog, say).
func HeapInUseMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}
