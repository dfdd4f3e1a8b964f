package backendtest

import "testing"

// SkipShort skips the test in the fast tier (`go test -short`, `make test-unit`): what needs
// a real backend (a Prometheus, Loki, Tempo, kube-apiserver, helm, a browser, the real node)
// runs in `make test`, which never passes -short, so nothing is skipped there.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not part of the fast tier (-short); make test runs it", what)
	}
}
