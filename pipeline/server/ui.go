package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// The UI is plain HTML, CSS and JavaScript embedded in the binary: no build step, no CDN,
// nothing fetched from elsewhere, so it works on an air-gapped node.
//
//go:embed ui
var uiFS embed.FS

// uiCSP allows the pages nothing but sonde itself.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func uiHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache") // assets change with the binary; revalidate
}

// uiAssets serves /ui/... from the embedded files.
func uiAssets() http.Handler {
	files := http.FileServerFS(uiFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		files.ServeHTTP(w, r)
	})
}

// serveUI answers with the UI's page.
func serveUI(w http.ResponseWriter, _ *http.Request) {
	b, err := fs.ReadFile(uiFS, "ui/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	uiHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}
