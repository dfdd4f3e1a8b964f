// Package procmem hands back to the kernel the pages of sonde's own executable that only
// start-up needed.
//
// Why: sonde links the OpenTelemetry collector, client-go and Prometheus; their ~500
// package initialisers are spread over the whole 33 MB of machine code and 37 MB of
// read-only data, so start-up alone maps nearly all of it (with large page-cache folios, a
// touch maps 2 MB at once). An idle sidecar then shows ~70 MB resident although its
// working set is under 20 MB. The kernel would reclaim those clean pages under memory
// pressure; Release does it when sonde knows start-up is over, so resident memory shows
// what sonde actually uses. Code needed later is faulted back in from the page cache (or
// the file), exactly as after reclaim. Writable mappings (data, heap) are never touched.
package procmem

// Result says what Release did.
type Result struct {
	Ranges              int    // read-only mappings of the executable advised
	Bytes               uint64 // their total size
	RSSBefore, RSSAfter uint64 // resident set size in bytes around the call; 0 if unknown
}
