package file

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// neverRead reports whether a file name is never tailed whatever the globs say: compressed
// rotations (the kubelet gzips older ones) and the temporary files they are written through
// (<name>.gz.tmp). Their content was, or will be, read from the uncompressed file they came
// from.
func neverRead(name string) bool {
	for _, ext := range []string{".gz", ".tmp", ".bz2", ".xz", ".zst", ".zip"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// rotationSuffixLen is the length of ".20240305-070809".
const rotationSuffixLen = 16

// rotatedSuffix reports whether name is base followed by the kubelet's rotation suffix,
// ".<YYYYMMDD-HHMMSS>" (0.log -> 0.log.20240305-070809).
func rotatedSuffix(name, base string) bool {
	if len(name) != len(base)+rotationSuffixLen || !strings.HasPrefix(name, base) || name[len(base)] != '.' {
		return false
	}
	ts := name[len(base)+1:]
	for i := 0; i < len(ts); i++ {
		if i == 8 {
			if ts[i] != '-' {
				return false
			}
		} else if ts[i] < '0' || ts[i] > '9' {
			return false
		}
	}
	return true
}

// rotationBase returns the file a kubelet rotation was made from (0.log for
// 0.log.20240305-070809, and for 0.log.20240305-070809.gz, compressed), or path itself when
// it is not a rotation: the stream the file belongs to.
func rotationBase(path string) string {
	if p, ok := strings.CutSuffix(path, compressedSuffix); ok {
		if base := rotationBase(p); base != p {
			return base
		}
		return p // <file>.gz belongs to the stream of <file>
	}
	if len(path) <= rotationSuffixLen {
		return path
	}
	if base := path[:len(path)-rotationSuffixLen]; rotatedSuffix(filepath.Base(path), filepath.Base(base)) {
		return base
	}
	return path
}

// rotationRank orders the files of one stream from oldest to newest: rotations by their
// timestamp (a compressed one just after what it was made from), the live file last.
func rotationRank(path string) string {
	if base := rotationBase(path); base != path {
		return path[len(base):] // ".20240305-070809"
	}
	return "~" // after any "."
}

// match is a file matched by a glob.
type match struct {
	path string      // as matched
	real string      // path with symbolic links resolved: where its writes are seen
	info os.FileInfo // of the file itself (links followed)
	// rotatedOf is, for a kubelet rotation of a matched file that the glob itself does not
	// match (0.log.20240305-070809 next to 0.log), the path of that file.
	rotatedOf string
}

// expand returns the regular files matching pattern (filepath.Match syntax per element),
// the kubelet rotations of those files (see match.rotatedOf), and the directories whose
// changes can change the matches: the deepest directory without wildcards (or, while it
// does not exist, the nearest directory above it that does) and every directory matched on
// the way down. Symbolic links are followed, and the directory of a
// linked file's target is returned as well (its writes happen there, as for
// /var/log/containers/*.log, which link into /var/log/pods).
//
// Written out rather than filepath.Glob because the directories along the way are needed
// too (they are watched), and this way each directory is read once.
func (x *expander) expand(pattern string) (files []match, dirs []string) {
	pattern = filepath.Clean(pattern)
	elems := strings.Split(pattern, string(filepath.Separator))
	first := 0
	for first < len(elems)-1 && !hasMeta(elems[first]) {
		first++
	}
	base := strings.Join(elems[:first], string(filepath.Separator))
	switch {
	case base == "" && filepath.IsAbs(pattern):
		base = string(filepath.Separator)
	case base == "":
		base = "."
	}
	if !isDir(base) {
		// The root is not there (yet): watch the nearest directory above it that is, so
		// that its creation is seen at once, and remember it for the quick look.
		x.missing = append(x.missing, base)
		if d := existingAncestor(base); d != "" {
			dirs = append(dirs, d)
		}
		return nil, dirs
	}
	current := []string{base}
	dirs = append(dirs, base)
	for i := first; i < len(elems)-1; i++ {
		var next []string
		for _, d := range current {
			for _, e := range x.listDir(d, elems[i]) {
				if ok, _ := filepath.Match(elems[i], e.name); ok {
					p := filepath.Join(d, e.name)
					if e.typ == typeDir || (e.typ == typeUnknown && isDir(p)) {
						next = append(next, p)
					}
				}
			}
		}
		dirs = append(dirs, next...)
		current = next
	}
	last := elems[len(elems)-1]
	for _, d := range current {
		entries := x.listDir(d, "*") // all of them: rotations are looked for too
		var matched map[string]bool
		for _, e := range entries {
			if e.typ == typeDir {
				continue
			}
			if ok, _ := filepath.Match(last, e.name); ok {
				if matched == nil {
					matched = map[string]bool{}
				}
				matched[e.name] = true
				if m, ok := x.matchFile(d, e.name); ok {
					files = append(files, m)
					if m.real != m.path {
						dirs = append(dirs, filepath.Dir(m.real))
					}
				}
			}
		}
		if matched == nil {
			continue
		}
		for _, e := range entries {
			if e.typ == typeDir || matched[e.name] || len(e.name) <= rotationSuffixLen {
				continue
			}
			if b := e.name[:len(e.name)-rotationSuffixLen]; matched[b] && rotatedSuffix(e.name, b) {
				if m, ok := x.matchFile(d, e.name); ok {
					m.rotatedOf = filepath.Join(d, b)
					files = append(files, m)
				}
			}
		}
	}
	return files, dirs
}

// entry is a name in a directory and what its directory entry says it is.
type entry struct {
	name string
	typ  entryType
}

type entryType uint8

const (
	typeUnknown entryType = iota // a link, or no type from the directory: stat it
	typeDir
	typeOther
)

// expander expands globs, remembering directory listings (and the files found in them)
// for as long as a directory's modification time does not change: an entry cannot be
// created, removed or renamed without changing it. The poll re-expands every glob; with
// this, an unchanged directory costs one stat instead of a listing and a stat per file.
// Only the reconciler uses it.
type expander struct {
	dirs  map[string]*cachedDir
	round uint64
	// missing are the roots (deepest directories without wildcards) of the patterns
	// expanded this round that do not exist.
	missing []string
}

type cachedDir struct {
	mtime   time.Time
	listed  time.Time
	entries []entry
	files   map[string]match // matchFile results by name (links are never cached)
	round   uint64
}

// racyMargin: a listing taken less than this after the directory's last change is not
// trusted, since a change within the same timestamp tick would leave the time unchanged.
const racyMargin = time.Second

func newExpander() *expander { return &expander{dirs: map[string]*cachedDir{}} }

// begin starts a reconcile round; end forgets directories the round did not use.
func (x *expander) begin() {
	x.round++
	x.missing = x.missing[:0]
}

func (x *expander) end() {
	for d, c := range x.dirs {
		if c.round != x.round {
			delete(x.dirs, d)
		}
	}
}

// listDir returns the entries of dir; for an element without wildcards, just that name
// (untyped). The types come from the directory itself, so listing costs no stat per entry.
func (x *expander) listDir(dir, elem string) []entry {
	if !hasMeta(elem) {
		return []entry{{name: elem}}
	}
	if c := x.cached(dir); c != nil {
		return c.entries
	}
	return nil
}

// cached returns the (possibly fresh) listing of dir, or nil if it cannot be read.
func (x *expander) cached(dir string) *cachedDir {
	fi, err := os.Stat(dir)
	if err != nil {
		delete(x.dirs, dir)
		return nil
	}
	c := x.dirs[dir]
	if c != nil && fi.ModTime().Equal(c.mtime) && c.listed.Sub(c.mtime) > racyMargin {
		c.round = x.round
		return c
	}
	listed := time.Now()
	des, err := os.ReadDir(dir)
	if err != nil {
		delete(x.dirs, dir)
		return nil
	}
	c = &cachedDir{mtime: fi.ModTime(), listed: listed, entries: make([]entry, len(des)), files: map[string]match{}, round: x.round}
	for i, e := range des {
		c.entries[i].name = e.Name()
		switch t := e.Type(); {
		case t&os.ModeSymlink != 0:
		case t.IsDir():
			c.entries[i].typ = typeDir
		default:
			c.entries[i].typ = typeOther
		}
	}
	x.dirs[dir] = c
	return c
}

// matchFile is the package's matchFile for dir/name, served from the directory's cache
// when the directory has not changed.
func (x *expander) matchFile(dir, name string) (match, bool) {
	c := x.dirs[dir]
	if c != nil && c.round == x.round {
		if m, ok := c.files[name]; ok {
			return m, true
		}
	}
	m, ok := matchFile(filepath.Join(dir, name))
	if ok && c != nil && m.real == m.path {
		c.files[name] = m
	}
	return m, ok
}

// existingAncestor returns the nearest directory above p that exists, or "" if none does.
func existingAncestor(p string) string {
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return ""
		}
		if isDir(parent) {
			return parent
		}
		p = parent
	}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// matchFile returns p as a match when it is a regular file (or a link to one) that may be
// read.
func matchFile(p string) (match, bool) {
	if neverRead(filepath.Base(p)) {
		return match{}, false
	}
	lfi, err := os.Lstat(p)
	if err != nil {
		return match{}, false
	}
	m := match{path: p, real: p, info: lfi}
	if lfi.Mode()&os.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || neverRead(filepath.Base(real)) {
			return match{}, false
		}
		if m.info, err = os.Stat(real); err != nil {
			return match{}, false
		}
		m.real = real
	}
	return m, m.info.Mode().IsRegular()
}
