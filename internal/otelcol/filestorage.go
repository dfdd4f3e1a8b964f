package otelcol

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// FileStorage is a storage extension for the exporters' persistent sending queue: one
// directory per client, one file per key, written to a temporary file, synced, then renamed
// into place, so a key holds either its old or its new value after a crash.
//
// The collector's own file_storage extension lives in the contrib repository (on bbolt),
// which this project does not depend on; the queue needs only Get, Set, Delete and Batch
// over a few thousand keys at most, which plain files do well.
type FileStorage struct {
	lifecycle
	dir string
}

var _ storage.Extension = (*FileStorage)(nil)

// NewFileStorage returns a storage keeping its clients' data under dir.
func NewFileStorage(dir string) *FileStorage { return &FileStorage{dir: dir} }

// GetClient implements storage.Extension: the directory is named after the owner and the
// storage name (the signal, for a sending queue), so each queue has its own.
func (s *FileStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	sub := escapeKey(strings.ToLower(kind.String()) + "_" + id.String())
	if name != "" {
		sub += "_" + escapeKey(name)
	}
	dir := filepath.Join(s.dir, sub)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	return &fileClient{dir: dir}, nil
}

type fileClient struct {
	dir string
	mu  sync.Mutex // one Batch at a time, so a Get never sees half of a Batch
}

func (c *fileClient) path(key string) string { return filepath.Join(c.dir, escapeKey(key)) }

func (c *fileClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *fileClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *fileClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Batch writes the values of every Set first (temporary files, synced), then applies the
// operations in order; Gets see the Sets before them.
func (c *fileClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	tmp := make(map[*storage.Operation]string)
	defer func() {
		for _, t := range tmp {
			_ = os.Remove(t)
		}
	}()
	for _, op := range ops {
		if op.Type != storage.Set {
			continue
		}
		t, err := writeTemp(c.dir, op.Value)
		if err != nil {
			if errors.Is(err, errNoSpace) {
				return storage.ErrStorageFull
			}
			return err
		}
		tmp[op] = t
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			b, err := os.ReadFile(c.path(op.Key))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				op.Value = nil
			case err != nil:
				return fmt.Errorf("file storage: %w", err)
			default:
				op.Value = b
			}
		case storage.Set:
			if err := os.Rename(tmp[op], c.path(op.Key)); err != nil {
				return fmt.Errorf("file storage: %w", err)
			}
			delete(tmp, op)
		case storage.Delete:
			if err := os.Remove(c.path(op.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file storage: %w", err)
			}
		default:
			return fmt.Errorf("file storage: unknown operation %d", op.Type)
		}
	}
	return nil
}

func (c *fileClient) Close(context.Context) error { return nil }

var errNoSpace = errors.New("no space left on device")

func writeTemp(dir string, value []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("file storage: %w", err)
	}
	_, werr := f.Write(value)
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		if strings.Contains(err.Error(), "no space left") {
			return "", errNoSpace
		}
		return "", fmt.Errorf("file storage: %w", err)
	}
	return f.Name(), nil
}

// escapeKey makes a key a safe file name: letters, digits, '-', '_' and '.' stay (a leading
// '.' does not, so keys never collide with temporary files), everything else becomes %XX.
func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		ch := key[i]
		safe := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.' && i > 0
		if safe {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
}
