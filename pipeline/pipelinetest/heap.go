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

// HeapLiveMiB returns the bytes of live heap objects after two garbage collections, in MiB:
// unlike HeapInUseMiB it leaves out the free room inside the heap's spans, which varies by a
// few MiB with how earlier allocations were laid out.
func HeapLiveMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
