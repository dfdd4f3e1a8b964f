package otelcol

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/extensionauth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BearerToken is a server authenticator that accepts requests whose Authorization header
// is "Bearer <token>", the token being the content of a file (surrounding white space
// trimmed). The file is read again when it changes, so a rotated token applies without a
// restart. The collector's bearertokenauth extension lives in the contrib repository,
// which this project does not depend on; this is the server half of it.
type BearerToken struct {
	lifecycle
	path string

	mu      sync.Mutex
	token   []byte
	modTime time.Time
	size    int64
}

var _ extensionauth.Server = (*BearerToken)(nil)

// NewBearerToken reads the token file once, so that a missing or empty file is reported
// when the component is built.
func NewBearerToken(path string) (*BearerToken, error) {
	b := &BearerToken{path: path}
	if err := b.reload(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *BearerToken) reload() error {
	st, err := os.Stat(b.path)
	if err != nil {
		return fmt.Errorf("bearer token file: %w", err)
	}
	if st.ModTime().Equal(b.modTime) && st.Size() == b.size && b.token != nil {
		return nil
	}
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return fmt.Errorf("bearer token file: %w", err)
	}
	tok := bytes.TrimSpace(raw)
	if len(tok) == 0 {
		return fmt.Errorf("bearer token file %s is empty", b.path)
	}
	b.token, b.modTime, b.size = tok, st.ModTime(), st.Size()
	return nil
}

var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid bearer token")

// Authenticate implements extensionauth.Server. The collector answers an error with HTTP
// 401 or gRPC UNAUTHENTICATED.
func (b *BearerToken) Authenticate(ctx context.Context, headers map[string][]string) (context.Context, error) {
	got := bearer(headers)
	if got == "" {
		return ctx, errUnauthenticated
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if subtle.ConstantTimeCompare([]byte(got), b.token) == 1 {
		return ctx, nil
	}
	// The token may have been rotated: look at the file again (a stat when unchanged).
	if err := b.reload(); err != nil {
		return ctx, errors.Join(errUnauthenticated, err)
	}
	if subtle.ConstantTimeCompare([]byte(got), b.token) == 1 {
		return ctx, nil
	}
	return ctx, errUnauthenticated
}

// bearer returns the token of the Authorization header; gRPC metadata keys are lower case,
// HTTP headers canonical.
func bearer(headers map[string][]string) string {
	for _, k := range []string{"authorization", "Authorization"} {
		for _, v := range headers[k] {
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				return strings.TrimSpace(v[7:])
			}
		}
	}
	return ""
}
